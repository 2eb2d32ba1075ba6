/* convtranspose.c: default ONNX ConvTranspose kernel: per group, columns = W^T X (one GEMM into
 * caller scratch), then each column is added into the output (col2im). */
#include "convtranspose.h"
#include "ep_layer.h"
#include "ep_sgemm.h"

#define EP_CT_PAD_LIMIT ((int64_t)1 << 30)

int64_t ep_convtranspose_scratch_size(const ep_tensor *x, const ep_tensor *w, const ep_conv_params *p)
{
    int64_t ih, iw;
    ep_window_spatial(x, &ih, &iw);
    return w->dims[1] * p->kernel[0] * p->kernel[1] * ih * iw;
}

static int check(const ep_tensor *x, const ep_tensor *w, const ep_tensor *b, const ep_tensor *y,
                 const ep_conv_params *p)
{
    int a;
    int rc = ep_check_operands(x, w, y, b);
    if (rc != EP_OK) {
        return rc;
    }
    if (p == NULL) {
        return EP_ERR_ARG;
    }
    for (a = 0; a < 2; ++a) {
        if (p->kernel[a] < 1 || p->strides[a] < 1 || p->dilations[a] < 1 || p->kernel[a] > EP_WINDOW_MAX ||
            p->strides[a] > EP_WINDOW_MAX || p->dilations[a] > EP_WINDOW_MAX || p->pads[a] < -EP_CT_PAD_LIMIT ||
            p->pads[a] > EP_CT_PAD_LIMIT) {
            return EP_ERR_ARG;
        }
    }
    if ((x->rank != 3 && x->rank != 4) || w->rank != x->rank || y->rank != x->rank || y->dims[0] != x->dims[0]) {
        return EP_ERR_SHAPE;
    }
    if (x->rank == 3 && (p->kernel[0] != 1 || p->strides[0] != 1 || p->dilations[0] != 1 || p->pads[0] != 0)) {
        return EP_ERR_ARG;
    }
    if (p->group < 1 || p->group > x->dims[1]) {
        return EP_ERR_ARG;
    }
    if (w->dims[0] != x->dims[1] || x->dims[1] % p->group != 0 || y->dims[1] != w->dims[1] * p->group ||
        w->dims[w->rank - 1] != p->kernel[1] || (w->rank == 4 && w->dims[2] != p->kernel[0]) ||
        (b && (b->rank != 1 || b->dims[0] != y->dims[1]))) {
        return EP_ERR_SHAPE;
    }
    return EP_OK;
}

int ep_convtranspose(const ep_tensor *x, const ep_tensor *w, const ep_tensor *b, ep_tensor *y,
                     const ep_conv_params *p, float *scratch)
{
    int64_t nb, g, c, cg, mg, m, ih, iw, oh, ow, kh, kw, rows, npix, row, q;
    const float *px;
    const float *pw;
    float *py;
    int rc = check(x, w, b, y, p);
    if (rc != EP_OK) {
        return rc;
    }
    ep_window_spatial(x, &ih, &iw);
    ep_window_spatial(y, &oh, &ow);
    c = x->dims[1];
    cg = c / p->group;
    mg = w->dims[1];
    m = mg * p->group;
    kh = p->kernel[0];
    kw = p->kernel[1];
    rows = mg * kh * kw;
    npix = ih * iw;
    if (scratch == NULL && rows * npix > 0) {
        return EP_ERR_ARG;
    }
    px = (const float *)x->data;
    pw = (const float *)w->data;
    py = (float *)y->data;
    for (nb = 0; nb < x->dims[0]; ++nb) {
        for (q = 0; q < m; ++q) {
            float bias = b ? ((const float *)b->data)[q] : 0.0f;
            float *plane = py + (nb * m + q) * oh * ow;
            for (row = 0; row < oh * ow; ++row) {
                plane[row] = bias;
            }
        }
        for (g = 0; g < p->group; ++g) {
            const float *xg = px + (nb * c + g * cg) * npix;
            const float *wg = pw + g * cg * rows;
            /* columns (rows x npix) = wg^T (rows x cg) * xg (cg x npix) */
            ep_sgemm_nn(rows, npix, cg, wg, 1, rows, xg, npix, scratch, npix);
            for (row = 0; row < rows; ++row) {
                int64_t mo = row / (kh * kw);
                int64_t ki = (row / kw) % kh;
                int64_t kj = row % kw;
                float *plane = py + (nb * m + g * mg + mo) * oh * ow;
                const float *col = scratch + row * npix;
                int64_t iy, ix;
                for (iy = 0; iy < ih; ++iy) {
                    int64_t oy = iy * p->strides[0] - p->pads[0] + ki * p->dilations[0];
                    if (oy < 0 || oy >= oh) {
                        continue;
                    }
                    for (ix = 0; ix < iw; ++ix) {
                        int64_t ox = ix * p->strides[1] - p->pads[1] + kj * p->dilations[1];
                        if (ox >= 0 && ox < ow) {
                            plane[oy * ow + ox] += col[iy * iw + ix];
                        }
                    }
                }
            }
        }
    }
    return EP_OK;
}
