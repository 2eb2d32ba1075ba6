/* batchnormalization.c: default ONNX BatchNormalization kernel (inference). */
#include <math.h>

#include "batchnormalization.h"

int ep_batchnormalization(const ep_tensor *x, const ep_tensor *scale, const ep_tensor *bias,
                          const ep_tensor *mean, const ep_tensor *var, ep_tensor *y, float epsilon)
{
    const ep_tensor *params[4];
    const float *px, *ps, *pb, *pm, *pv;
    float *py;
    int64_t n, c, size = 1, i, j, k;
    int32_t d;
    int rc = ep_check_same(x, y);
    if (rc != EP_OK) {
        return rc;
    }
    if (x->rank < 2) {
        return EP_ERR_SHAPE;
    }
    c = x->dims[1];
    params[0] = scale;
    params[1] = bias;
    params[2] = mean;
    params[3] = var;
    for (k = 0; k < 4; ++k) {
        rc = ep_check(params[k]);
        if (rc != EP_OK) {
            return rc;
        }
        if (params[k]->rank != 1 || params[k]->dims[0] != c) { /* one value per channel, no broadcast */
            return EP_ERR_SHAPE;
        }
    }
    px = (const float *)x->data;
    ps = (const float *)scale->data;
    pb = (const float *)bias->data;
    pm = (const float *)mean->data;
    pv = (const float *)var->data;
    py = (float *)y->data;
    n = x->dims[0];
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
