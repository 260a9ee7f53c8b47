/* Kernels every variant shares: pooling, global average (MEAN), padding (they move or compare
 * bytes and do few multiplies: no faster variant to teach), and the im2col helper of the faster
 * conv variants. */
#include "kernels.h"

/* A pooling window, clipped to the image (padding never takes part): rows [y0, y1), columns [x0, x1). */
typedef struct { int y0, y1, x0, x1; } window_t;

/* MAX_POOL_2D's reduction: the largest value in the window. */
static int32_t window_max(const pool_params_t *p, const int8_t *in, window_t w, int c) {
    int32_t best = -128;
    for (int y = w.y0; y < w.y1; y++)
        for (int x = w.x0; x < w.x1; x++)
            if (in[(y * p->in_w + x) * p->c + c] > best) best = in[(y * p->in_w + x) * p->c + c];
    return best;
}

/* AVERAGE_POOL_2D's reduction: the sum divided by the count of in-image values, rounding half
 * away from zero: (sum +- count/2) / count, as TFLite's reference kernel. The generator emits no
 * AVERAGE_POOL_2D (no course model has one); it stays because deleting it changes how clang
 * compiles pool2d, and so MAX_POOL_2D's instruction counts. */
static int32_t window_avg(const pool_params_t *p, const int8_t *in, window_t w, int c) {
    int32_t sum = 0, count = (w.y1 - w.y0) * (w.x1 - w.x0);
    for (int y = w.y0; y < w.y1; y++)
        for (int x = w.x0; x < w.x1; x++) sum += in[(y * p->in_w + x) * p->c + c];
    return sum > 0 ? (sum + count / 2) / count : (sum - count / 2) / count;
}

/* Every output pixel and channel: reduce its window, then the fused-activation clamp. */
static void pool2d(const pool_params_t *p, const int8_t *in, int8_t *out,
                   int32_t (*reduce)(const pool_params_t *, const int8_t *, window_t, int)) {
    for (int oy = 0; oy < p->out_h; oy++) {
        for (int ox = 0; ox < p->out_w; ox++) {
            int y = oy * p->stride_h - p->pad_top, x = ox * p->stride_w - p->pad_left;
            window_t w = {y < 0 ? 0 : y, y + p->k_h > p->in_h ? p->in_h : y + p->k_h,
                          x < 0 ? 0 : x, x + p->k_w > p->in_w ? p->in_w : x + p->k_w};
            for (int c = 0; c < p->c; c++)
                out[(oy * p->out_w + ox) * p->c + c] = clamp_s8(reduce(p, in, w, c), p->act_min, p->act_max);
        }
    }
}

void max_pool2d_s8(const pool_params_t *p, const int8_t *in, int8_t *out) { pool2d(p, in, out, window_max); }

void avg_pool2d_s8(const pool_params_t *p, const int8_t *in, int8_t *out) { pool2d(p, in, out, window_avg); }

/* MEAN over H and W (global average pool): sum - n*zp_in, then ONE requantization whose multiplier
 * already contains 1/n (DOUBLE rounding, as LiteRT's reference QuantizedMeanOrSum). */
void mean_hw_s8(const mean_params_t *p, const int8_t *in, int8_t *out) {
    int n = p->h * p->w;
    for (int c = 0; c < p->c; c++) {
        int32_t sum = 0;
        for (int i = 0; i < n; i++) sum += in[i * p->c + c];
        int32_t v = requant_double(sum - p->in_zp * n, p->mult, p->shift) + p->out_zp;
        out[c] = clamp_s8(v, -128, 127);
    }
}

/* PAD: copy the input into the middle of an output filled with the zero point. */
void pad_s8(const pad_params_t *p, const int8_t *in, int8_t *out) {
    int od[4];
    for (int d = 0; d < 4; d++) od[d] = p->in_dims[d] + p->pads[d][0] + p->pads[d][1];
    memset(out, p->value, (size_t)od[0] * od[1] * od[2] * od[3]);
    int row = p->in_dims[3];                        /* one input row of channels stays contiguous */
    for (int n = 0; n < p->in_dims[0]; n++)
        for (int y = 0; y < p->in_dims[1]; y++)
            for (int x = 0; x < p->in_dims[2]; x++) {
                int oi = (((n + p->pads[0][0]) * od[1] + y + p->pads[1][0]) * od[2] + x + p->pads[2][0]) * od[3]
                         + p->pads[3][0];
                memcpy(out + oi, in + ((n * p->in_dims[1] + y) * p->in_dims[2] + x) * row, (size_t)row);
            }
}

/* im2col: the receptive field of output pixel (oy, ox), k_h * k_w * in_c values, copied into a
 * contiguous int16 column with the zero point subtracted and padded taps written as 0. */
void im2col_s16(const conv_params_t *p, const int8_t *in, int oy, int ox, int16_t *col) {
    for (int ky = 0; ky < p->k_h; ky++) {
        for (int kx = 0; kx < p->k_w; kx++) {
            int at = tap_offset(p, oy, ox, ky, kx);
            for (int ic = 0; ic < p->in_c; ic++) *col++ = at < 0 ? 0 : (int16_t)(in[at + ic] - p->in_zp);
        }
    }
}
