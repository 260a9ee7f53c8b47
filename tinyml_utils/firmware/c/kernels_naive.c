/* Variant "naive": the loops exactly as the maths reads (TFLite's reference kernels are written
 * this way). Output pixel, output channel, then every kernel tap and input channel, with a bounds
 * check on every tap: correct and slow. The other variants compute the same integers faster. */
#include "kernels.h"

/* CONV_2D, per-channel int8:
 *   acc[oy][ox][oc] = bias[oc] + sum_{ky,kx,ic} w[oc][ky][kx][ic] * (in[y][x][ic] - in_zp)
 * over the taps inside the image (a padded tap adds w * (zp - zp) = 0), then DOUBLE rounding. */
void conv2d_s8(const conv_params_t *p, const int8_t *in, int8_t *out, void *scratch) {
    (void)scratch;
    for (int oy = 0; oy < p->out_h; oy++) {
        for (int ox = 0; ox < p->out_w; ox++) {
            for (int oc = 0; oc < p->out_c; oc++) {
                int32_t acc = p->bias[oc];
                for (int ky = 0; ky < p->k_h; ky++) {
                    for (int kx = 0; kx < p->k_w; kx++) {
                        int at = tap_offset(p, oy, ox, ky, kx);     /* -1: a padded tap */
                        if (at < 0) continue;
                        for (int ic = 0; ic < p->in_c; ic++) {
                            int32_t v = in[at + ic] - p->in_zp;
                            int32_t w = p->weights[((oc * p->k_h + ky) * p->k_w + kx) * p->in_c + ic];
                            acc += w * v;
                        }
                    }
                }
                int32_t r = requant_double(acc, p->mult[oc], p->shift[oc]) + p->out_zp;
                out[(oy * p->out_w + ox) * p->out_c + oc] = clamp_s8(r, p->act_min, p->act_max);
            }
        }
    }
}

/* DEPTHWISE_CONV_2D: each input channel ic has depth_multiplier filters; output channel
 * oc = ic * depth_multiplier + m reads only input channel ic. DOUBLE rounding. */
void depthwise_conv2d_s8(const conv_params_t *p, const int8_t *in, int8_t *out, void *scratch) {
    (void)scratch;
    for (int oy = 0; oy < p->out_h; oy++) {
        for (int ox = 0; ox < p->out_w; ox++) {
            for (int ic = 0; ic < p->in_c; ic++) {
                for (int m = 0; m < p->depth_multiplier; m++) {
                    int oc = ic * p->depth_multiplier + m;
                    int32_t acc = p->bias[oc];
                    for (int ky = 0; ky < p->k_h; ky++)
                        for (int kx = 0; kx < p->k_w; kx++) {
                            int at = tap_offset(p, oy, ox, ky, kx);         /* -1: a padded tap */
                            if (at >= 0) acc += p->weights[(ky * p->k_w + kx) * p->out_c + oc] * (in[at + ic] - p->in_zp);
                        }
                    int32_t r = requant_double(acc, p->mult[oc], p->shift[oc]) + p->out_zp;
                    out[(oy * p->out_w + ox) * p->out_c + oc] = clamp_s8(r, p->act_min, p->act_max);
                }
            }
        }
    }
}

/* FULLY_CONNECTED: acc[o] = bias[o] + sum_d w[o][d] * (in[d] - in_zp); SINGLE rounding.
 * Rows of the input beyond the first are further batches (out_h * out_w of them). */
void fully_connected_s8(const conv_params_t *p, const int8_t *in, int8_t *out, void *scratch) {
    (void)scratch;
    int batches = p->out_h * p->out_w;
    for (int b = 0; b < batches; b++) {
        for (int o = 0; o < p->out_c; o++) {
            int32_t acc = p->bias[o];
            for (int d = 0; d < p->in_c; d++)
                acc += p->weights[o * p->in_c + d] * (in[b * p->in_c + d] - p->in_zp);
            int32_t r = requant_single(acc, p->mult[o], p->shift[o]) + p->out_zp;
            out[b * p->out_c + o] = clamp_s8(r, p->act_min, p->act_max);
        }
    }
}
