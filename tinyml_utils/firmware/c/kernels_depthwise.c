/* DEPTHWISE_CONV_2D with reordered loops, shared by the "reordered" and "simd" variants.
 *
 * The naive kernel walks channel -> tap, checking the image border for every channel. Here the
 * order is tap -> channel: the border is checked once per tap, and the innermost loop runs over
 * channels, which are contiguous in NHWC memory for the input, the weights (1HWC) and the
 * accumulators. (SIMD would need the taps of one channel side by side: a depthwise layer's short
 * dot products (9 taps for 3x3) do not pay for the repacking, so this variant has none.)
 */
#include "kernels.h"

/* DOUBLE rounding. scratch: out_c int32 accumulators. */
void depthwise_conv2d_s8(const conv_params_t *p, const int8_t *in, int8_t *out, void *scratch) {
    int32_t *acc = (int32_t *)scratch;
    const int m = p->depth_multiplier, n_out = p->out_c;
    const int32_t zp = p->in_zp;       /* locals: acc could alias *p, which would force reloads */
    for (int oy = 0; oy < p->out_h; oy++) {
        for (int ox = 0; ox < p->out_w; ox++) {
            for (int oc = 0; oc < p->out_c; oc++) acc[oc] = p->bias[oc];
            for (int ky = 0; ky < p->k_h; ky++) {
                int y = oy * p->stride_h - p->pad_top + ky * p->dil_h;
                if (y < 0 || y >= p->in_h) continue;
                for (int kx = 0; kx < p->k_w; kx++) {
                    int x = ox * p->stride_w - p->pad_left + kx * p->dil_w;
                    if (x < 0 || x >= p->in_w) continue;
                    const int8_t *src = in + (y * p->in_w + x) * p->in_c;
                    const int8_t *w = p->weights + (ky * p->k_w + kx) * p->out_c;
                    if (m == 1) {
                        for (int c = 0; c < n_out; c++) acc[c] += w[c] * (src[c] - zp);
                    } else {
                        for (int c = 0; c < n_out; c++) acc[c] += w[c] * (src[c / m] - zp);
                    }
                }
            }
            int8_t *dst = out + (oy * p->out_w + ox) * p->out_c;
            for (int oc = 0; oc < p->out_c; oc++)
                dst[oc] = clamp_s8(requant_double(acc[oc], p->mult[oc], p->shift[oc]) + p->out_zp,
                                   p->act_min, p->act_max);
        }
    }
}
