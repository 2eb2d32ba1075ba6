/* quantizelinear.c: default ONNX QuantizeLinear kernel. */
#include <math.h>

#include "quantizelinear.h"
#include "ep_quant.h"

int ep_quantizelinear(const ep_tensor *x, ep_tensor *y, int32_t axis, const float *scale, const int64_t *zero_point,
                      int64_t n)
{
    const float *px;
    int64_t total, inner, channels, i, k;
    int rc = ep_check(x);
    if (rc == EP_OK) {
        rc = ep_check_q8(y);
    }
    if (rc == EP_OK) {
        rc = ep_quant_axis(x, y, axis, scale, zero_point, n, &inner, &channels);
    }
    if (rc != EP_OK) {
        return rc;
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
