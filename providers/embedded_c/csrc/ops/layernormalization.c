/* layernormalization.c: default ONNX LayerNormalization kernel. */
#include <math.h>

#include "layernormalization.h"

/* sum over x[0..len) of x - center (squared when `squares`), in double, in eight lanes so that it vectorizes */
static double row_sum(const float *x, int64_t len, double center, int squares)
{
    double lane[8] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
    double acc = 0.0;
    int64_t i;
    int k;
    if (squares) {
        for (i = 0; i + 8 <= len; i += 8) {
            for (k = 0; k < 8; ++k) {
                double c = x[i + k] - center;
                lane[k] += c * c;
            }
        }
        for (; i < len; ++i) {
            double c = x[i] - center;
            acc += c * c;
        }
    } else {
        for (i = 0; i + 8 <= len; i += 8) {
            for (k = 0; k < 8; ++k) {
                lane[k] += (double)x[i + k];
            }
        }
        for (; i < len; ++i) {
            acc += (double)x[i];
        }
    }
    for (k = 0; k < 8; ++k) {
        acc += lane[k];
    }
    return acc;
}

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
        double mean = row_sum(xr, len, 0.0, 0) / (double)len;
        double inv = 1.0 / sqrt(row_sum(xr, len, mean, 1) / (double)len + (double)epsilon);
        if (pb) {
            for (i = 0; i < len; ++i) {
                yr[i] = (float)((xr[i] - mean) * inv) * ps[i] + pb[i];
            }
        } else {
            for (i = 0; i < len; ++i) {
                yr[i] = (float)((xr[i] - mean) * inv) * ps[i];
            }
        }
    }
    return EP_OK;
}
