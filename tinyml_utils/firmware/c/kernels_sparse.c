/* Variant "sparse": im2col (kernels_im2col.c), and dot products that skip the zero weights of an
 * unstructured-pruned model.
 *
 * Dense kernels multiply by a zero weight as fast as by any other, so zeros left by magnitude
 * pruning save no instructions. Here the generator stores, for each output channel, only its
 * non-zero weights and their positions in the im2col column (compressed rows, as CSR does); the
 * dot product walks that list. Each kept weight costs an extra index load, so this pays only when
 * most weights are zero. Depthwise layers stay dense (kernels_depthwise.c).
 */
#include "kernels.h"

void prepare_column(int16_t *col, int n) {
    (void)col;
    (void)n;                                   /* natural order */
}

/* acc[oc] = sum over the non-zero weights of channel oc: value * column[position]. */
void dot_channels(const conv_params_t *p, const int16_t *col, int depth, int32_t *acc) {
    (void)depth;
    for (int oc = 0; oc < p->out_c; oc++) {
        int32_t sum = 0;
        for (int k = p->nz_start[oc]; k < p->nz_start[oc + 1]; k++) sum += p->nz_value[k] * col[p->nz_index[k]];
        acc[oc] = sum;
    }
}
