/* lrn.c: default ONNX LRN kernel. */
#include <math.h>

#include "lrn.h"

int ep_lrn(const ep_tensor *x, ep_tensor *y, int64_t size, float alpha, float beta, float bias)
{
    const float *px = (const float *)x->data;
    float *py = (float *)y->data;
    int64_t n, c, plane = 1, b, ch, i, j;
    int64_t lo = (size - 1) / 2, hi = size - 1 - (size - 1) / 2;
    int32_t d;
    if (x->dtype != EP_FLOAT32 || y->dtype != EP_FLOAT32) {
        return EP_ERR_DTYPE;
    }
    if (x->rank < 2 || size < 1) {
        return EP_ERR_SHAPE;
    }
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
