/* Variant "simd": im2col (kernels_im2col.c), and the dot products two MACs per instruction.
 *
 * Cortex-M4/M7/M33/M55 have the DSP extension: SMLAD multiplies the two 16-bit halves of one
 * register by those of another and adds both products to an accumulator (acc += a.lo*b.lo +
 * a.hi*b.hi). SXTB16 sign-extends bytes 0 and 2 of a word into two 16-bit halves; rotated by 8
 * it gives bytes 1 and 3. So one 32-bit load brings 4 int8 weights, two SXTB16 turn them into
 * the pairs (w0, w2) and (w1, w3), and the im2col column is written in the matching order
 * (x0, x2, x1, x3) for every group of 4: two SMLADs then do 4 MACs. CMSIS-NN's arm_convolve_s8
 * uses the same trick (arm_nn_read_q7x4 + __SXTB16 + __SMLAD).
 *
 * Where the compiler does not define __ARM_FEATURE_DSP (Cortex-M0+, the host), the three
 * instructions are plain C functions with the same results, so the host checks the same data flow.
 */
#include "kernels.h"

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
static inline int32_t smlad(uint32_t a, uint32_t b, int32_t acc) {
    int32_t r;
    __asm__("smlad %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
    return r;
}
static inline uint32_t sxtb16(uint32_t x) {
    uint32_t r;
    __asm__("sxtb16 %0, %1" : "=r"(r) : "r"(x));
    return r;
}
static inline uint32_t sxtb16_ror8(uint32_t x) {
    uint32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
}
#else
static inline int32_t smlad(uint32_t a, uint32_t b, int32_t acc) {
    int32_t lo = (int32_t)(int16_t)(a & 0xFFFF) * (int16_t)(b & 0xFFFF);
    int32_t hi = (int32_t)(int16_t)(a >> 16) * (int16_t)(b >> 16);
    return (int32_t)((uint32_t)acc + (uint32_t)lo + (uint32_t)hi);
}
static inline uint32_t sxtb16(uint32_t x) {
    return (uint32_t)(uint16_t)(int16_t)(int8_t)(x & 0xFF) | ((uint32_t)(uint16_t)(int16_t)(int8_t)(x >> 16) << 16);
}
static inline uint32_t sxtb16_ror8(uint32_t x) { return sxtb16((x >> 8) | (x << 24)); }
#endif

/* Reorder a column in place from (x0, x1, x2, x3) to (x0, x2, x1, x3) per full group of 4, the
 * order in which SXTB16 hands out the weights. */
void prepare_column(int16_t *col, int n) {
    for (int k = 0; k + 4 <= n; k += 4) {
        int16_t t = col[k + 1];
        col[k + 1] = col[k + 2];
        col[k + 2] = t;
    }
}

/* Two output channels at a time: each column word is loaded once and used by both filters
 * (8 MACs per 4 loads + 4 SXTB16 + 4 SMLAD); an odd last channel alone. */
void dot_channels(const conv_params_t *p, const int16_t *col, int depth, int32_t *acc) {
    int oc = 0;
    for (; oc < p->out_c; oc += 2) {
        const int8_t *wa = p->weights + oc * depth;
        const int8_t *wb = oc + 1 < p->out_c ? wa + depth : wa;    /* odd count: the last one twice */
        int32_t a = 0, b = 0;
        int k = 0;
        for (; k + 4 <= depth; k += 4) {
            uint32_t w4a, w4b, x02, x13;
            __builtin_memcpy(&w4a, wa + k, 4);         /* w0 w1 w2 w3: one (unaligned) load */
            __builtin_memcpy(&w4b, wb + k, 4);
            __builtin_memcpy(&x02, col + k, 4);        /* x0 x2 */
            __builtin_memcpy(&x13, col + k + 2, 4);    /* x1 x3 */
            a = smlad(sxtb16(w4a), x02, a);             /* + w0*x0 + w2*x2 */
            a = smlad(sxtb16_ror8(w4a), x13, a);        /* + w1*x1 + w3*x3 */
            b = smlad(sxtb16(w4b), x02, b);
            b = smlad(sxtb16_ror8(w4b), x13, b);
        }
        for (; k < depth; k++) {                       /* the tail, natural order */
            a += wa[k] * col[k];
            b += wb[k] * col[k];
        }
        acc[oc] = a;
        if (oc + 1 < p->out_c) acc[oc + 1] = b;
    }
}
