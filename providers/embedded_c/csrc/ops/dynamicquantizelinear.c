/* dynamicquantizelinear.c: default ONNX DynamicQuantizeLinear kernel. */
#include <math.h>

#include "dynamicquantizelinear.h"
#include "ep_quant.h"

int ep_dynamicquantizelinear(const ep_tensor *x, ep_tensor *y, ep_tensor *y_scale, ep_tensor *y_zero_point)
{
    const float *px;
    float lo = 0.0f, hi = 0.0f, scale, zp;
    int64_t n, i;
    int rc = ep_check(x);
    if (rc == EP_OK) {
        rc = ep_check_dtype(y, EP_UINT8);
    }
    if (rc == EP_OK) {
        rc = ep_check(y_scale);
    }
    if (rc == EP_OK) {
        rc = ep_check_dtype(y_zero_point, EP_UINT8);
    }
    if (rc != EP_OK) {
        return rc;
    }
    if (!ep_same_shape(x, y) || ep_numel(y_scale) != 1 || ep_numel(y_zero_point) != 1) {
        return EP_ERR_SHAPE;
    }
    px = (const float *)x->data;
    n = ep_numel(x);
    for (i = 0; i < n; ++i) {
        lo = px[i] < lo ? px[i] : lo;
        hi = px[i] > hi ? px[i] : hi;
    }
    if (!(hi - lo <= 3.4e38f)) {
        return EP_ERR_ARG;
    }
    scale = (hi == lo ? 1.0f : hi - lo) / 255.0f;
    zp = 0.0f - lo / scale;
    zp = rintf(zp < 0.0f ? 0.0f : (zp > 255.0f ? 255.0f : zp));
    ((float *)y_scale->data)[0] = scale;
    ((uint8_t *)y_zero_point->data)[0] = (uint8_t)zp;
    for (i = 0; i < n; ++i) {
        float q = rintf(px[i] / scale);
        if (q != q) {
            q = 0.0f;
        }
        q = q < -1e6f ? -1e6f : (q > 1e6f ? 1e6f : q);
        ep_q_store(y, i, (int64_t)q + (int64_t)zp);
    }
    return EP_OK;
}
