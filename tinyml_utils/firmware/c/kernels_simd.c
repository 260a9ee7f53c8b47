/* Variant "simd": im2col as in kernels_reordered.c, and the dot product two MACs per instruction.
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
static void pack_pairs(int16_t *col, int n) {
    for (int k = 0; k + 4 <= n; k += 4) {
        int16_t t = col[k + 1];
        col[k + 1] = col[k + 2];
        col[k + 2] = t;
    }
}

/* acc = sum_k w[k] * x[k], with col holding x in packed order: 4 MACs per 2 SMLAD. */
static int32_t dot_s8_s16_simd(const int8_t *w, const int16_t *col, int n) {
    int32_t acc = 0;
    int k = 0;
    for (; k + 4 <= n; k += 4) {
        uint32_t w4, x02, x13;
        __builtin_memcpy(&w4, w + k, 4);       /* w0 w1 w2 w3: one (unaligned) load */
        __builtin_memcpy(&x02, col + k, 4);    /* x0 x2 */
        __builtin_memcpy(&x13, col + k + 2, 4); /* x1 x3 */
        acc = smlad(sxtb16(w4), x02, acc);      /* + w0*x0 + w2*x2 */
        acc = smlad(sxtb16_ror8(w4), x13, acc); /* + w1*x1 + w3*x3 */
    }
    for (; k < n; k++) acc += w[k] * col[k];   /* the tail, natural order */
    return acc;
}

/* Two output channels at once: each column word is loaded once and used by both filters
 * (8 MACs per 4 loads + 4 SXTB16 + 4 SMLAD). */
static void dot2_s8_s16_simd(const int8_t *wa, const int8_t *wb, const int16_t *col, int n,
                             int32_t *acc_a, int32_t *acc_b) {
    int32_t a = 0, b = 0;
    int k = 0;
    for (; k + 4 <= n; k += 4) {
        uint32_t w4a, w4b, x02, x13;
        __builtin_memcpy(&w4a, wa + k, 4);
        __builtin_memcpy(&w4b, wb + k, 4);
        __builtin_memcpy(&x02, col + k, 4);
        __builtin_memcpy(&x13, col + k + 2, 4);
        a = smlad(sxtb16(w4a), x02, a);
        a = smlad(sxtb16_ror8(w4a), x13, a);
        b = smlad(sxtb16(w4b), x02, b);
        b = smlad(sxtb16_ror8(w4b), x13, b);
    }
    for (; k < n; k++) {
        a += wa[k] * col[k];
        b += wb[k] * col[k];
    }
    *acc_a = a;
    *acc_b = b;
}

static inline int8_t requant_conv(const conv_params_t *p, int oc, int32_t acc) {
    return clamp_s8(requant_double(acc + p->bias[oc], p->mult[oc], p->shift[oc]) + p->out_zp, p->act_min, p->act_max);
}

/* CONV_2D; DOUBLE rounding. scratch: k_h * k_w * in_c int16. */
void conv2d_s8(const conv_params_t *p, const int8_t *in, int8_t *out, void *scratch) {
    int16_t *col = (int16_t *)scratch;
    int depth = p->k_h * p->k_w * p->in_c;
    for (int oy = 0; oy < p->out_h; oy++) {
        for (int ox = 0; ox < p->out_w; ox++) {
            im2col_s16(p, in, oy, ox, col);
            pack_pairs(col, depth);
            int8_t *dst = out + (oy * p->out_w + ox) * p->out_c;
            int oc = 0;
            for (; oc + 2 <= p->out_c; oc += 2) {
                int32_t a, b;
                dot2_s8_s16_simd(p->weights + oc * depth, p->weights + (oc + 1) * depth, col, depth, &a, &b);
                dst[oc] = requant_conv(p, oc, a);
                dst[oc + 1] = requant_conv(p, oc + 1, b);
            }
            if (oc < p->out_c) dst[oc] = requant_conv(p, oc, dot_s8_s16_simd(p->weights + oc * depth, col, depth));
        }
    }
}

/* FULLY_CONNECTED; SINGLE rounding. scratch: in_c int16. */
void fully_connected_s8(const conv_params_t *p, const int8_t *in, int8_t *out, void *scratch) {
    int16_t *col = (int16_t *)scratch;
    int batches = p->out_h * p->out_w;
    for (int b = 0; b < batches; b++) {
        for (int d = 0; d < p->in_c; d++) col[d] = (int16_t)(in[b * p->in_c + d] - p->in_zp);
        pack_pairs(col, p->in_c);
        for (int o = 0; o < p->out_c; o++) {
            int32_t acc = p->bias[o] + dot_s8_s16_simd(p->weights + o * p->in_c, col, p->in_c);
            out[b * p->out_c + o] = clamp_s8(requant_single(acc, p->mult[o], p->shift[o]) + p->out_zp,
                                             p->act_min, p->act_max);
        }
    }
}
