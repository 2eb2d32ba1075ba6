/* conv.c: default ONNX Conv kernel: im2col into caller scratch, then a row-major GEMM per group. */
#include <string.h>

#include "conv.h"
#include "ep_sgemm.h"
#include "ep_window.h"

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
    ep_window_spatial(y, &oh, &ow);
    return cg * p->kernel[0] * p->kernel[1] * oh * ow;
}

/* col (cg*kh*kw x oh*ow): row (ci, ki, kj) holds the input pixel under tap (ki, kj) of every output */
static void im2col(const float *xg, int64_t cg, int64_t ih, int64_t iw, int64_t oh, int64_t ow,
                   const ep_conv_params *p, float *dst)
{
    int64_t ci, ki, kj, oy, ox;
    int64_t sh = p->strides[0], sw = p->strides[1];
    for (ci = 0; ci < cg; ++ci) {
        for (ki = 0; ki < p->kernel[0]; ++ki) {
            for (kj = 0; kj < p->kernel[1]; ++kj) {
                /* outputs ox in [lo, hi) read inside the row: xx = ox * sw + off */
                int64_t off = kj * p->dilations[1] - p->pads[1];
                int64_t lo = off >= 0 ? 0 : (-off + sw - 1) / sw;
                int64_t hi = iw - off <= 0 ? 0 : (iw - off + sw - 1) / sw;
                if (hi > ow) {
                    hi = ow;
                }
                if (lo > hi) {
                    lo = hi;
                }
                for (oy = 0; oy < oh; ++oy) {
                    int64_t yy = oy * sh - p->pads[0] + ki * p->dilations[0];
                    const float *row;
                    if (yy < 0 || yy >= ih) {
                        memset(dst, 0, (size_t)ow * sizeof(float));
                        dst += ow;
                        continue;
                    }
                    row = xg + (ci * ih + yy) * iw;
                    for (ox = 0; ox < lo; ++ox) {
                        dst[ox] = 0.0f;
                    }
                    if (sw == 1) {
                        if (hi > lo) {
                            memcpy(dst + lo, row + lo + off, (size_t)(hi - lo) * sizeof(float));
                        }
                    } else {
                        for (ox = lo; ox < hi; ++ox) {
                            dst[ox] = row[ox * sw + off];
                        }
                    }
                    for (ox = hi; ox < ow; ++ox) {
                        dst[ox] = 0.0f;
                    }
                    dst += ow;
                }
            }
        }
    }
}

/* EP_OK when every descriptor and parameter agrees with the others (see conv.h). */
static int check_conv(const ep_tensor *x, const ep_tensor *w, const ep_tensor *b, const ep_tensor *y,
                      const ep_conv_params *p)
{
    int rc = ep_check(x);
    int64_t c, m;
    if (rc == EP_OK) {
        rc = ep_check(w);
    }
    if (rc == EP_OK) {
        rc = ep_check(y);
    }
    if (rc == EP_OK && b) {
        rc = ep_check(b);
    }
    if (rc == EP_OK && p == NULL) {
        rc = EP_ERR_ARG;
    }
    if (rc == EP_OK) {
        rc = ep_window_check(x, y, p->kernel, p->strides, p->pads, p->dilations, 0);
    }
    if (rc != EP_OK) {
        return rc;
    }
    if (p->group < 1 || p->group > x->dims[1]) {
        return EP_ERR_ARG;
    }
    c = x->dims[1];
    m = w->dims[0];
    if (w->rank != x->rank || c != w->dims[1] * p->group || m % p->group != 0 || y->dims[1] != m ||
        w->dims[w->rank - 1] != p->kernel[1] || (w->rank == 4 && w->dims[2] != p->kernel[0]) ||
        (b && (b->rank != 1 || b->dims[0] != m))) {
        return EP_ERR_SHAPE;
    }
    return EP_OK;
}

int ep_conv(const ep_tensor *x, const ep_tensor *w, const ep_tensor *b, ep_tensor *y,
            const ep_conv_params *p, float *scratch)
{
    int64_t n_batch, c, m, cg, mg, ih, iw, oh, ow, kh, kw, kdim, npix, nb, g;
    const float *px;
    const float *pw;
    const float *pb;
    float *py;
    int pointwise;
    int rc = check_conv(x, w, b, y, p);
    if (rc != EP_OK) {
        return rc;
    }
    pointwise = is_pointwise(p);
    if (!pointwise && scratch == NULL) {
        return EP_ERR_ARG;
    }
    n_batch = x->dims[0];
    c = x->dims[1];
    m = w->dims[0];
    cg = w->dims[1];
    mg = m / p->group;
    kh = p->kernel[0];
    kw = p->kernel[1];
    kdim = cg * kh * kw;
    px = (const float *)x->data;
    pw = (const float *)w->data;
    pb = b ? (const float *)b->data : NULL;
    py = (float *)y->data;
    ep_window_spatial(x, &ih, &iw);
    ep_window_spatial(y, &oh, &ow);
    npix = oh * ow;

    for (nb = 0; nb < n_batch; ++nb) {
        for (g = 0; g < p->group; ++g) {
            const float *xg = px + (nb * c + g * cg) * ih * iw;
            const float *col = xg;
            float *yg = py + (nb * m + g * mg) * npix;
            const float *wg = pw + g * mg * kdim;
            int64_t i, q;
            if (!pointwise) {
                im2col(xg, cg, ih, iw, oh, ow, p, scratch);
                col = scratch;
            }
            /* yg (mg x npix) = wg (mg x kdim) * col (kdim x npix), then the bias */
            ep_sgemm_nn(mg, npix, kdim, wg, kdim, 1, col, npix, yg, npix);
            if (pb) {
                for (i = 0; i < mg; ++i) {
                    float *row = yg + i * npix;
                    float bias = pb[g * mg + i];
                    for (q = 0; q < npix; ++q) {
                        row[q] += bias;
                    }
                }
            }
        }
    }
    return EP_OK;
}
