/* resize.c: default ONNX Resize kernel (nearest, linear and cubic from the caller's tap tables). */
#include "resize.h"

static int indices_inside(const int64_t *idx, int64_t count, int64_t n)
{
    int64_t i;
    for (i = 0; i < count; ++i) {
        if (idx[i] < 0 || idx[i] >= n) {
            return 0;
        }
    }
    return 1;
}

int ep_resize(const ep_tensor *x, ep_tensor *y, int32_t th, const int64_t *ih, const float *wh, int32_t tw,
              const int64_t *iw, const float *ww)
{
    const float *px;
    float *py;
    int64_t in_h, in_w, out_h, out_w, planes, p, oh, ow;
    int32_t r, d, a, b;
    int rc = ep_check(x);
    if (rc == EP_OK) {
        rc = ep_check(y);
    }
    if (rc != EP_OK) {
        return rc;
    }
    if (th < 1 || tw < 1 || ih == NULL || wh == NULL || iw == NULL || ww == NULL) {
        return EP_ERR_ARG;
    }
    r = x->rank;
    if (r < 2 || y->rank != r) {
        return EP_ERR_SHAPE;
    }
    for (d = 0; d < r - 2; ++d) {
        if (y->dims[d] != x->dims[d]) {
            return EP_ERR_SHAPE;
        }
    }
    in_h = x->dims[r - 2];
    in_w = x->dims[r - 1];
    out_h = y->dims[r - 2];
    out_w = y->dims[r - 1];
    if (ep_numel(y) == 0) {
        return EP_OK;
    }
    if (!indices_inside(ih, out_h * th, in_h) || !indices_inside(iw, out_w * tw, in_w)) {
        return EP_ERR_SHAPE;
    }
    planes = ep_numel(y) / (out_h * out_w);
    px = (const float *)x->data;
    py = (float *)y->data;
    for (p = 0; p < planes; ++p) {
        const float *xp = px + p * in_h * in_w;
        float *yp = py + p * out_h * out_w;
        for (oh = 0; oh < out_h; ++oh) {
            const int64_t *rows = ih + oh * th;
            const float *rw = wh + oh * th;
            for (ow = 0; ow < out_w; ++ow) {
                const int64_t *cols = iw + ow * tw;
                const float *cw = ww + ow * tw;
                float acc = 0.0f;
                for (b = 0; b < tw; ++b) {
                    float t = rw[0] * xp[rows[0] * in_w + cols[b]];
                    for (a = 1; a < th; ++a) {
                        t += rw[a] * xp[rows[a] * in_w + cols[b]];
                    }
                    acc = b == 0 ? cw[0] * t : acc + cw[b] * t;
                }
                yp[oh * out_w + ow] = acc;
            }
        }
    }
    return EP_OK;
}
