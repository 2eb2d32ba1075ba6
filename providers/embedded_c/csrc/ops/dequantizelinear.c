/* dequantizelinear.c: default ONNX DequantizeLinear kernel. */
#include "dequantizelinear.h"
#include "ep_quant.h"

int ep_dequantizelinear(const ep_tensor *x, ep_tensor *y, int32_t axis, const float *scale,
                        const int64_t *zero_point, int64_t n)
{
    float *py;
    int64_t total, inner = 1, channels = 1, i;
    int32_t d;
    int rc = ep_check(y);
    if (rc == EP_OK) {
        rc = x != NULL && x->dtype == EP_INT32 ? ep_check_dtype(x, EP_INT32) : ep_check_q8(x);
    }
    if (rc != EP_OK) {
        return rc;
    }
    if (!ep_same_shape(x, y)) {
        return EP_ERR_SHAPE;
    }
    if (scale == NULL || zero_point == NULL || n < 1 || (n > 1 && (axis < 0 || axis >= x->rank))) {
        return EP_ERR_ARG;
    }
    if (n > 1) {
        channels = x->dims[axis];
        for (d = axis + 1; d < x->rank; ++d) {
            inner *= x->dims[d];
        }
        if (n != channels) {
            return EP_ERR_ARG;
        }
    }
    py = (float *)y->data;
    total = ep_numel(x);
    for (i = 0; i < total; ++i) {
        int64_t c = n > 1 ? (i / inner) % channels : 0;
        py[i] = (float)((int64_t)ep_q_load(x, i) - zero_point[c]) * scale[c];
    }
    return EP_OK;
}
