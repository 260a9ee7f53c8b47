/* Minimal <string.h> for freestanding Cortex-M builds: zig cc ships no libc headers for
 * thumb-freestanding targets. The functions come from zig's compiler_rt. */
#ifndef TINYML_STRING_H
#define TINYML_STRING_H
#include <stddef.h>
void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
#endif
