/* lrn.c: default ONNX LRN kernel. */
#include <math.h>

#include "lrn.h"

int ep_lrn(const ep_tensor *x, ep_tensor *y, int64_t size, float alpha, float beta, float bias)
{
    const float *px;
    float *py;
    int64_t n, c, plane = 1, b, ch, i, j, lo, hi;
    int32_t d;
    int rc = ep_check_same(x, y);
    if (rc != EP_OK) {
        return rc;
    }
    if (size < 1) {
        return EP_ERR_ARG;
    }
    if (x->rank < 2) {
        return EP_ERR_SHAPE;
    }
    px = (const float *)x->data;
    py = (float *)y->data;
    lo = (size - 1) / 2;
    hi = size - 1 - (size - 1) / 2;
    n = x->dims[0];
    c = x->dims[1];
    for (d = 2; d < x->rank; ++d) {
        plane *= x->dims[d];
    }
    for (b = 0; b < n; ++b) {
        for (ch = 0; ch < c; ++ch) {
            int64_t c0 = ch - lo < 0 ? 0 : ch - lo;
            int64_t c1 = ch + hi >= c ? c - 1 : ch + hi;
            const float *xs = px + (b * c + ch) * plane;
            float *ys = py + (b * c + ch) * plane;
            for (i = 0; i < plane; ++i) {
                double sq = 0.0;
                for (j = c0; j <= c1; ++j) {
                    double v = px[(b * c + j) * plane + i];
                    sq += v * v;
                }
                ys[i] = (float)(xs[i] / pow(bias + alpha / (double)size * sq, beta));
            }
        }
    }
    return EP_OK;
}
