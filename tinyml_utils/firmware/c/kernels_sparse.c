/* Variant "sparse": skip the zero weights of an unstructured-pruned model.
 *
 * Dense kernels multiply by a zero weight as fast as by any other, so zeros left by magnitude
 * pruning save no instructions. Here the generator stores, for each output channel, only its
 * non-zero weights and their positions in the im2col column (compressed rows, as CSR does); the
 * dot product walks that list. Each kept weight costs an extra index load, so this pays only when
 * most weights are zero. Depthwise layers stay dense (kernels_depthwise.c).
 */
#include "kernels.h"

/* sum over the non-zero weights of one output channel: value * column[position]. */
static int32_t dot_sparse(const int8_t *value, const uint16_t *index, int n, const int16_t *col) {
    int32_t acc = 0;
    for (int k = 0; k < n; k++) acc += value[k] * col[index[k]];
    return acc;
}

/* CONV_2D via im2col, zero weights skipped; DOUBLE rounding. scratch: k_h * k_w * in_c int16. */
void conv2d_s8(const conv_params_t *p, const int8_t *in, int8_t *out, void *scratch) {
    int16_t *col = (int16_t *)scratch;
    for (int oy = 0; oy < p->out_h; oy++) {
        for (int ox = 0; ox < p->out_w; ox++) {
            im2col_s16(p, in, oy, ox, col);
            int8_t *dst = out + (oy * p->out_w + ox) * p->out_c;
            for (int oc = 0; oc < p->out_c; oc++) {
                int start = p->nz_start[oc], n = p->nz_start[oc + 1] - start;
                int32_t acc = p->bias[oc] + dot_sparse(p->nz_value + start, p->nz_index + start, n, col);
                dst[oc] = clamp_s8(requant_double(acc, p->mult[oc], p->shift[oc]) + p->out_zp, p->act_min, p->act_max);
            }
        }
    }
}

/* FULLY_CONNECTED, zero weights skipped; SINGLE rounding. scratch: in_c int16. */
void fully_connected_s8(const conv_params_t *p, const int8_t *in, int8_t *out, void *scratch) {
    int16_t *col = (int16_t *)scratch;
    int batches = p->out_h * p->out_w;
    for (int b = 0; b < batches; b++) {
        for (int d = 0; d < p->in_c; d++) col[d] = (int16_t)(in[b * p->in_c + d] - p->in_zp);
        for (int o = 0; o < p->out_c; o++) {
            int start = p->nz_start[o], n = p->nz_start[o + 1] - start;
            int32_t acc = p->bias[o] + dot_sparse(p->nz_value + start, p->nz_index + start, n, col);
            out[b * p->out_c + o] = clamp_s8(requant_single(acc, p->mult[o], p->shift[o]) + p->out_zp,
                                             p->act_min, p->act_max);
        }
    }
}
