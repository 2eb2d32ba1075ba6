/* layernormalization.c: default ONNX LayerNormalization kernel. */
#include <math.h>

#include "layernormalization.h"

int ep_layernormalization(const ep_tensor *x, const ep_tensor *scale, const ep_tensor *bias, ep_tensor *y,
                          int32_t axis, float epsilon)
{
    const float *px;
    const float *ps;
    const float *pb;
    float *py;
    int64_t rows, len = 1, r, i;
    int32_t d;
    int rc = ep_check_same(x, y);
    if (rc == EP_OK) {
        rc = ep_check(scale);
    }
    if (rc == EP_OK && bias != NULL) {
        rc = ep_check(bias);
    }
    if (rc != EP_OK) {
        return rc;
    }
    if (axis < 0 || axis >= x->rank || !(epsilon >= 0.0f)) {
        return EP_ERR_ARG;
    }
    for (d = axis; d < x->rank; ++d) {
        len *= x->dims[d];
    }
    if (ep_numel(scale) != len || (bias != NULL && ep_numel(bias) != len)) {
        return EP_ERR_SHAPE;
    }
    if (len == 0) {
        return EP_OK;
    }
    rows = ep_numel(x) / len;
    px = (const float *)x->data;
    ps = (const float *)scale->data;
    pb = bias ? (const float *)bias->data : NULL;
    py = (float *)y->data;
    for (r = 0; r < rows; ++r) {
        const float *xr = px + r * len;
        float *yr = py + r * len;
        double mean = 0.0, var = 0.0, inv;
        for (i = 0; i < len; ++i) {
            mean += xr[i];
        }
        mean /= (double)len;
        for (i = 0; i < len; ++i) {
            double c = xr[i] - mean;
            var += c * c;
        }
        inv = 1.0 / sqrt(var / (double)len + (double)epsilon);
        for (i = 0; i < len; ++i) {
            float v = (float)((xr[i] - mean) * inv) * ps[i];
            yr[i] = pb ? v + pb[i] : v;
        }
    }
    return EP_OK;
}
