/* batchnormalization.c: default ONNX BatchNormalization kernel (inference). */
#include <math.h>

#include "batchnormalization.h"

int ep_batchnormalization(const ep_tensor *x, const ep_tensor *scale, const ep_tensor *bias,
                          const ep_tensor *mean, const ep_tensor *var, ep_tensor *y, float epsilon)
{
    const float *px = (const float *)x->data;
    const float *ps = (const float *)scale->data;
    const float *pb = (const float *)bias->data;
    const float *pm = (const float *)mean->data;
    const float *pv = (const float *)var->data;
    float *py = (float *)y->data;
    int64_t n, c, size = 1, i, j, k;
    int32_t d;
    if (x->dtype != EP_FLOAT32 || y->dtype != EP_FLOAT32) {
        return EP_ERR_DTYPE;
    }
    if (x->rank < 2) {
        return EP_ERR_SHAPE;
    }
    n = x->dims[0];
    c = x->dims[1];
    for (d = 2; d < x->rank; ++d) {
        size *= x->dims[d];
    }
    for (j = 0; j < c; ++j) {
        float a = ps[j] / sqrtf(pv[j] + epsilon);
        float b = pb[j] - pm[j] * a;
        for (i = 0; i < n; ++i) {
            const float *xs = px + (i * c + j) * size;
            float *ys = py + (i * c + j) * size;
            for (k = 0; k < size; ++k) {
                ys[k] = xs[k] * a + b;
            }
        }
    }
    return EP_OK;
}
