/* conv.c: default ONNX Conv kernel: im2col into caller scratch, then a row-major GEMM per group. */
#include <string.h>

#include "conv.h"

/* Spatial extents of a rank-3 (1-D) or rank-4 (2-D) tensor as (h, w). */
static void spatial(const ep_tensor *t, int64_t *h, int64_t *w)
{
    if (t->rank == 3) {
        *h = 1;
        *w = t->dims[2];
    } else {
        *h = t->dims[2];
        *w = t->dims[3];
    }
}

static int is_pointwise(const ep_conv_params *p)
{
    return p->kernel[0] == 1 && p->kernel[1] == 1 && p->strides[0] == 1 && p->strides[1] == 1 &&
           p->pads[0] == 0 && p->pads[1] == 0 && p->pads[2] == 0 && p->pads[3] == 0;
}

int64_t ep_conv_scratch_size(const ep_tensor *x, const ep_tensor *w, const ep_tensor *y, const ep_conv_params *p)
{
    int64_t oh;
    int64_t ow;
    int64_t cg = w->dims[1];
    (void)x;
    if (is_pointwise(p)) {
        return 0;
    }
    spatial(y, &oh, &ow);
    return cg * p->kernel[0] * p->kernel[1] * oh * ow;
}

int ep_conv(const ep_tensor *x, const ep_tensor *w, const ep_tensor *b, ep_tensor *y,
            const ep_conv_params *p, float *scratch)
{
    int64_t n_batch = x->dims[0];
    int64_t c = x->dims[1];
    int64_t m = w->dims[0];
    int64_t cg = w->dims[1];
    int64_t mg;
    int64_t ih, iw, oh, ow;
    int64_t kh = p->kernel[0];
    int64_t kw = p->kernel[1];
    int64_t kdim = cg * kh * kw;
    int64_t npix;
    int64_t nb, g;
    const float *px = (const float *)x->data;
    const float *pw = (const float *)w->data;
    const float *pb = b ? (const float *)b->data : NULL;
    float *py = (float *)y->data;
    int pointwise = is_pointwise(p);

    if (x->dtype != EP_FLOAT32 || w->dtype != EP_FLOAT32 || y->dtype != EP_FLOAT32 ||
        (b && b->dtype != EP_FLOAT32)) {
        return EP_ERR_DTYPE;
    }
    if ((x->rank != 3 && x->rank != 4) || w->rank != x->rank || y->rank != x->rank || p->group <= 0 ||
        c != cg * p->group || m % p->group != 0) {
        return EP_ERR_SHAPE;
    }
    if (!pointwise && scratch == NULL) {
        return EP_ERR_ARG;
    }
    mg = m / p->group;
    spatial(x, &ih, &iw);
    spatial(y, &oh, &ow);
    npix = oh * ow;

    for (nb = 0; nb < n_batch; ++nb) {
        for (g = 0; g < p->group; ++g) {
            const float *xg = px + (nb * c + g * cg) * ih * iw;
            const float *col = xg;
            float *yg = py + (nb * m + g * mg) * npix;
            const float *wg = pw + g * mg * kdim;
            int64_t i, k, q;
            if (!pointwise) {
                int64_t ci, ki, kj, oy, ox;
                float *dst = scratch;
                for (ci = 0; ci < cg; ++ci) {
                    for (ki = 0; ki < kh; ++ki) {
                        for (kj = 0; kj < kw; ++kj) {
                            for (oy = 0; oy < oh; ++oy) {
                                int64_t yy = oy * p->strides[0] - p->pads[0] + ki * p->dilations[0];
                                if (yy < 0 || yy >= ih) {
                                    for (ox = 0; ox < ow; ++ox) {
                                        *dst++ = 0.0f;
                                    }
                                    continue;
                                }
                                for (ox = 0; ox < ow; ++ox) {
                                    int64_t xx = ox * p->strides[1] - p->pads[1] + kj * p->dilations[1];
                                    *dst++ = (xx >= 0 && xx < iw) ? xg[(ci * ih + yy) * iw + xx] : 0.0f;
                                }
                            }
                        }
                    }
                }
                col = scratch;
            }
            /* yg (mg x npix) = wg (mg x kdim) * col (kdim x npix) + bias */
            for (i = 0; i < mg; ++i) {
                float *row = yg + i * npix;
                float bias = pb ? pb[g * mg + i] : 0.0f;
                for (q = 0; q < npix; ++q) {
                    row[q] = 0.0f;
                }
                for (k = 0; k < kdim; ++k) {
                    float a = wg[i * kdim + k];
                    const float *src = col + k * npix;
                    for (q = 0; q < npix; ++q) {
                        row[q] += a * src[q];
                    }
                }
                if (pb) {
                    for (q = 0; q < npix; ++q) {
                        row[q] += bias;
                    }
                }
            }
        }
    }
    return EP_OK;
}
