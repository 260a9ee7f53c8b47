/* Variant "reordered": the same integers as kernels_naive.c, loops rearranged for a small core.
 *
 * im2col: for one output pixel, copy its receptive field (k_h * k_w * in_c values) once into a
 * contiguous int16 column, with the zero point already subtracted and padded taps written as 0.
 * Every output channel is then a plain dot product of that column with one contiguous row of
 * OHWI weights: no bounds checks, no index arithmetic, no zero-point subtraction in the inner loop.
 * (MIT 6.5940 lab 4 and CMSIS-NN's arm_convolve_s8 do the same.)
 */
#include "kernels.h"

/* sum_k w[k] * col[k]: the inner loop of every conv and fully connected layer. */
static int32_t dot_s8_s16(const int8_t *w, const int16_t *col, int n) {
    int32_t acc = 0;
    for (int k = 0; k < n; k++) acc += w[k] * col[k];
    return acc;
}

/* CONV_2D via im2col; DOUBLE rounding. scratch: k_h * k_w * in_c int16. */
void conv2d_s8(const conv_params_t *p, const int8_t *in, int8_t *out, void *scratch) {
    int16_t *col = (int16_t *)scratch;
    int depth = p->k_h * p->k_w * p->in_c;
    for (int oy = 0; oy < p->out_h; oy++) {
        for (int ox = 0; ox < p->out_w; ox++) {
            im2col_s16(p, in, oy, ox, col);
            int8_t *dst = out + (oy * p->out_w + ox) * p->out_c;
            for (int oc = 0; oc < p->out_c; oc++) {
                int32_t acc = p->bias[oc] + dot_s8_s16(p->weights + oc * depth, col, depth);
                dst[oc] = clamp_s8(requant_double(acc, p->mult[oc], p->shift[oc]) + p->out_zp, p->act_min, p->act_max);
            }
        }
    }
}

/* FULLY_CONNECTED: subtract the zero point once per input (not once per output unit), then one dot
 * product per unit; SINGLE rounding. scratch: in_c int16. */
void fully_connected_s8(const conv_params_t *p, const int8_t *in, int8_t *out, void *scratch) {
    int16_t *col = (int16_t *)scratch;
    int batches = p->out_h * p->out_w;
    for (int b = 0; b < batches; b++) {
        for (int d = 0; d < p->in_c; d++) col[d] = (int16_t)(in[b * p->in_c + d] - p->in_zp);
        for (int o = 0; o < p->out_c; o++) {
            int32_t acc = p->bias[o] + dot_s8_s16(p->weights + o * p->in_c, col, p->in_c);
            out[b * p->out_c + o] = clamp_s8(requant_single(acc, p->mult[o], p->shift[o]) + p->out_zp,
                                             p->act_min, p->act_max);
        }
    }
}
