/* not.c: default ONNX Not kernel. */
#include "not.h"

int ep_not(const ep_tensor *x, ep_tensor *y)
{
    const unsigned char *px;
    unsigned char *py;
    int64_t n, i;
    int rc = ep_check_dtype(x, EP_BOOL);
    if (rc == EP_OK) {
        rc = ep_check_dtype(y, EP_BOOL);
    }
    if (rc == EP_OK && !ep_same_shape(x, y)) {
        rc = EP_ERR_SHAPE;
    }
    if (rc != EP_OK) {
        return rc;
    }
    px = (const unsigned char *)x->data;
    py = (unsigned char *)y->data;
    n = ep_numel(x);
    for (i = 0; i < n; ++i) {
        py[i] = px[i] == 0;
    }
    return EP_OK;
}
