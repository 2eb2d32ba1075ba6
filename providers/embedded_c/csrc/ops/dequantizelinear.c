/* dequantizelinear.c: default ONNX DequantizeLinear kernel. */
#include "dequantizelinear.h"
#include "ep_quant.h"

int ep_dequantizelinear(const ep_tensor *x, ep_tensor *y, int32_t axis, const float *scale,
                        const int64_t *zero_point, int64_t n)
{
    float *py;
    int64_t total, inner, channels, i;
    int rc = ep_check(y);
    if (rc == EP_OK) {
        rc = x != NULL && x->dtype == EP_INT32 ? ep_check_dtype(x, EP_INT32) : ep_check_q8(x);
    }
    if (rc == EP_OK) {
        rc = ep_quant_axis(x, y, axis, scale, zero_point, n, &inner, &channels);
    }
    if (rc != EP_OK) {
        return rc;
    }
    py = (float *)y->data;
    total = ep_numel(x);
    for (i = 0; i < total; ++i) {
        int64_t c = n > 1 ? (i / inner) % channels : 0;
        py[i] = (float)((int64_t)ep_q_load(x, i) - zero_point[c]) * scale[c];
    }
    return EP_OK;
}
