/* Minimal <math.h> for freestanding Cortex-M builds: declarations only. There is no libm: a
 * program that calls one of these functions defines it (the MFCC glue defines logf); fabsf and
 * sqrtf map to single instructions on a core with an FPU. */
#ifndef TINYML_MATH_H
#define TINYML_MATH_H
#define INFINITY (__builtin_inff())
#define NAN (__builtin_nanf(""))
#define M_PI 3.14159265358979323846
float logf(float x);
float expf(float x);
float sqrtf(float x);
float fabsf(float x);
double sqrt(double x);
double fabs(double x);
float cosf(float x);
float sinf(float x);
#define fabsf(x) __builtin_fabsf(x)
#define sqrtf(x) __builtin_sqrtf(x)
#endif
