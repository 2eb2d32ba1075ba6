/* quantizelinear.c: default ONNX QuantizeLinear kernel. */
#include <math.h>

#include "quantizelinear.h"
#include "ep_quant.h"

int ep_quantizelinear(const ep_tensor *x, ep_tensor *y, int32_t axis, const float *scale, const int64_t *zero_point,
                      int64_t n)
{
    const float *px;
    int64_t total, inner = 1, channels = 1, i, k;
    int32_t d;
    int rc = ep_check(x);
    if (rc == EP_OK) {
        rc = ep_check_q8(y);
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
    for (k = 0; k < n; ++k) {
        if (!(scale[k] > 0.0f && scale[k] <= 3.4e38f) || !ep_zero_point_ok(y, zero_point[k])) {
            return EP_ERR_ARG;
        }
    }
    px = (const float *)x->data;
    total = ep_numel(x);
    for (i = 0; i < total; ++i) {
        int64_t c = n > 1 ? (i / inner) % channels : 0;
        float q = rintf(px[i] / scale[c]);
        if (q != q) {
            q = 0.0f;
        }
        q = q < -1e6f ? -1e6f : (q > 1e6f ? 1e6f : q);
        ep_q_store(y, i, (int64_t)q + zero_point[c]);
    }
    return EP_OK;
}
