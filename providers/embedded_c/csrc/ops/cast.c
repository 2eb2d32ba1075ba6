/* cast.c: default ONNX Cast kernel (to float32). */
#include "cast.h"
#include "ep_quant.h"

int ep_cast(const ep_tensor *x, ep_tensor *y)
{
    float *py;
    int64_t n, i;
    int rc = x == NULL ? EP_ERR_ARG : ep_check_dtype(x, x->dtype);
    if (rc == EP_OK) {
        rc = ep_check(y);
    }
    if (rc != EP_OK) {
        return rc;
    }
    if (ep_dtype_size(x->dtype) == 0) {
        return EP_ERR_DTYPE;
    }
    if (!ep_same_shape(x, y)) {
        return EP_ERR_SHAPE;
    }
    py = (float *)y->data;
    n = ep_numel(x);
    if (x->dtype == EP_FLOAT32) {
        const float *px = (const float *)x->data;
        for (i = 0; i < n; ++i) {
            py[i] = px[i];
        }
        return EP_OK;
    }
    for (i = 0; i < n; ++i) {
        py[i] = (float)ep_q_load(x, i);
    }
    return EP_OK;
}
