/* CONV_2D and FULLY_CONNECTED for the "reordered", "simd" and "sparse" variants: im2col, then one
 * dot product per output channel, then requantization.
 *
 * The naive loops (kernels_naive.c) recompute tap coordinates, check the image border and subtract
 * the zero point inside the innermost loop, for every output channel again. Here, for one output
 * pixel, the receptive field (k_h * k_w * in_c values) is copied once into a contiguous int16
 * column with the zero point already subtracted and padded taps written as 0 (im2col). Every output
 * channel is then a plain dot product of that column with one contiguous row of OHWI weights.
 * A fully connected layer is the same with a column of in_c values. (MIT 6.5940 lab 4 and
 * CMSIS-NN's arm_convolve_s8 / arm_fully_connected_s8 are built the same way.)
 *
 * The variants differ only in dot_channels (and prepare_column): plain C, SMLAD pairs, or a walk
 * over the non-zero weights. scratch: the column (int16, rounded up to 4 bytes), then out_c int32.
 */
#include "kernels.h"

static int32_t *accumulators(void *scratch, int depth) {
    return (int32_t *)((char *)scratch + ((2 * depth + 3) & ~3));
}

/* CONV_2D; DOUBLE rounding. */
void conv2d_s8(const conv_params_t *p, const int8_t *in, int8_t *out, void *scratch) {
    int depth = p->k_h * p->k_w * p->in_c;
    int16_t *col = (int16_t *)scratch;
    int32_t *acc = accumulators(scratch, depth);
    for (int oy = 0; oy < p->out_h; oy++) {
        for (int ox = 0; ox < p->out_w; ox++) {
            im2col_s16(p, in, oy, ox, col);
            prepare_column(col, depth);
            dot_channels(p, col, depth, acc);
            int8_t *dst = out + (oy * p->out_w + ox) * p->out_c;
            for (int oc = 0; oc < p->out_c; oc++) {
                int32_t r = requant_double(acc[oc] + p->bias[oc], p->mult[oc], p->shift[oc]) + p->out_zp;
                dst[oc] = clamp_s8(r, p->act_min, p->act_max);
            }
        }
    }
}

/* FULLY_CONNECTED: the zero point is subtracted once per input value (not once per output unit);
 * SINGLE rounding. Rows beyond the first are further batches (out_h * out_w of them). */
void fully_connected_s8(const conv_params_t *p, const int8_t *in, int8_t *out, void *scratch) {
    int16_t *col = (int16_t *)scratch;
    int32_t *acc = accumulators(scratch, p->in_c);
    for (int b = 0; b < p->out_h * p->out_w; b++) {
        for (int d = 0; d < p->in_c; d++) col[d] = (int16_t)(in[b * p->in_c + d] - p->in_zp);
        prepare_column(col, p->in_c);
        dot_channels(p, col, p->in_c, acc);
        for (int o = 0; o < p->out_c; o++) {
            int32_t r = requant_single(acc[o] + p->bias[o], p->mult[o], p->shift[o]) + p->out_zp;
            out[b * p->out_c + o] = clamp_s8(r, p->act_min, p->act_max);
        }
    }
}
