/* The course's int8 kernels: one header for every variant (naive, reordered, simd, sparse).
 *
 * Tensors are NHWC int8; weights are TFLite's layouts (CONV_2D: OHWI, DEPTHWISE_CONV_2D: 1HWC,
 * FULLY_CONNECTED: [out][in]). Every layer's numbers (shapes, zero points, per-channel
 * multipliers and shifts, clamp range) are computed in Python exactly as TFLite's Prepare does and
 * written into the generated model.c as const structs.
 *
 * Requantization (int32 accumulator -> int8) is TFLite's fixed-point arithmetic, and the rounding
 * is part of each op's spec: LiteRT's reference kernels use gemmlowp's DOUBLE rounding for
 * CONV_2D, DEPTHWISE_CONV_2D and MEAN, and SINGLE rounding for FULLY_CONNECTED. Each kernel calls
 * the one it needs by name, so the choice is visible in the code.
 */
#ifndef TINYML_KERNELS_H
#define TINYML_KERNELS_H

#include <stdint.h>
#include <string.h>

/* ---- layer parameters (filled by the generator) ---------------------------------------------- */
typedef struct {
    int in_h, in_w, in_c;          /* input  (batch 1, NHWC) */
    int out_h, out_w, out_c;       /* output (batch 1, NHWC); FULLY_CONNECTED: out_c units, in_c = depth */
    int k_h, k_w;                  /* kernel size */
    int stride_h, stride_w, dil_h, dil_w;
    int pad_top, pad_left;         /* leading zero padding (SAME), the trailing pad is implied */
    int depth_multiplier;          /* DEPTHWISE_CONV_2D only */
    int32_t in_zp, out_zp;         /* zero points of input and output */
    int32_t act_min, act_max;      /* fused activation as a clamp (RELU: [out_zp, 127]) */
    const int8_t *weights;
    const int32_t *bias;           /* int32, scale s_in * s_w[c], zero point 0 */
    const int32_t *mult;           /* Q31 multiplier per output channel */
    const int32_t *shift;          /* power-of-two exponent per output channel (< 0: right shift) */
    /* variant "sparse" only (weights is then NULL): the non-zero weights of output channel oc are
     * nz_value[k] at column position nz_index[k], for k in [nz_start[oc], nz_start[oc + 1]) */
    const int32_t *nz_start;
    const uint16_t *nz_index;
    const int8_t *nz_value;
} conv_params_t;

typedef struct {
    int in_h, in_w, c, out_h, out_w;
    int k_h, k_w, stride_h, stride_w, pad_top, pad_left;
    int32_t act_min, act_max;
} pool_params_t;

typedef struct {
    int h, w, c;                   /* MEAN over h and w (global average pool) */
    int32_t in_zp, out_zp, mult, shift;   /* 1/(h*w) is folded into mult/shift by the generator */
} mean_params_t;

typedef struct {
    int in_dims[4];                /* NHWC */
    int pads[4][2];                /* before/after per dimension */
    int8_t value;                  /* the output zero point: quantized 0.0 */
} pad_params_t;

/* ---- requantization: int32 accumulator * (mult * 2^(shift - 31)) -------------------------------- */

/* gemmlowp's SaturatingRoundingDoublingHighMul: the high 32 bits of 2*a*b, rounded to nearest. */
static inline int32_t sat_rounding_doubling_high_mul(int32_t a, int32_t b) {
    if (a == INT32_MIN && b == INT32_MIN) return INT32_MAX;      /* the single overflow case */
    int64_t ab = (int64_t)a * (int64_t)b;
    int64_t nudge = ab >= 0 ? (1 << 30) : (1 - (1 << 30));
    return (int32_t)((ab + nudge) / ((int64_t)1 << 31));          /* C division: toward zero */
}

/* gemmlowp's RoundingDivideByPOT: x / 2^e, rounding half away from zero. */
static inline int32_t rounding_divide_by_pot(int32_t x, int e) {
    int32_t mask = (int32_t)((1u << e) - 1u);
    int32_t remainder = x & mask;
    int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> e) + (remainder > threshold ? 1 : 0);
}

/* DOUBLE rounding (CONV_2D, DEPTHWISE_CONV_2D, MEAN): round the doubling high multiply, then round
 * the right shift again. */
static inline int32_t requant_double(int32_t acc, int32_t mult, int32_t shift) {
    int left = shift > 0 ? shift : 0;
    int right = shift > 0 ? 0 : -shift;
    int32_t x = (int32_t)((uint32_t)acc << left);                /* wraps like TFLite's int32 */
    return rounding_divide_by_pot(sat_rounding_doubling_high_mul(x, mult), right);
}

/* SINGLE rounding (FULLY_CONNECTED): one 64-bit product, one rounding shift by 31 - shift. */
static inline int32_t requant_single(int32_t acc, int32_t mult, int32_t shift) {
    int total = 31 - shift;
    int64_t prod = (int64_t)acc * (int64_t)mult + ((int64_t)1 << (total - 1));
    return (int32_t)(prod >> total);
}

static inline int8_t clamp_s8(int32_t v, int32_t lo, int32_t hi) {
    return (int8_t)(v < lo ? lo : (v > hi ? hi : v));
}

/* Offset (in values) of the input pixel under tap (ky, kx) of output pixel (oy, ox), or -1 when
 * the tap falls in the zero padding. */
static inline int tap_offset(const conv_params_t *p, int oy, int ox, int ky, int kx) {
    int y = oy * p->stride_h - p->pad_top + ky * p->dil_h;
    int x = ox * p->stride_w - p->pad_left + kx * p->dil_w;
    return (y < 0 || y >= p->in_h || x < 0 || x >= p->in_w) ? -1 : (y * p->in_w + x) * p->in_c;
}

/* ---- kernels ----------------------------------------------------------------------------------- */
/* `scratch` is a word-aligned work buffer the generator sizes per variant (im2col columns,
 * per-pixel accumulators); the naive kernels do not touch it. */
void conv2d_s8(const conv_params_t *p, const int8_t *in, int8_t *out, void *scratch);
void depthwise_conv2d_s8(const conv_params_t *p, const int8_t *in, int8_t *out, void *scratch);
void fully_connected_s8(const conv_params_t *p, const int8_t *in, int8_t *out, void *scratch);
void max_pool2d_s8(const pool_params_t *p, const int8_t *in, int8_t *out);
void avg_pool2d_s8(const pool_params_t *p, const int8_t *in, int8_t *out);
void mean_hw_s8(const mean_params_t *p, const int8_t *in, int8_t *out);
void pad_s8(const pad_params_t *p, const int8_t *in, int8_t *out);

/* im2col column of output pixel (oy, ox) (kernels_common.c) */
void im2col_s16(const conv_params_t *p, const int8_t *in, int oy, int ox, int16_t *col);

/* What the "reordered", "simd" and "sparse" variants differ in (kernels_im2col.c calls them):
 * prepare_column rearranges a finished column if the dot product wants another order;
 * dot_channels computes acc[oc] = sum_k w[oc][k] * col[k] for every output channel. */
void prepare_column(int16_t *col, int n);
void dot_channels(const conv_params_t *p, const int16_t *col, int depth, int32_t *acc);

#endif /* TINYML_KERNELS_H */
