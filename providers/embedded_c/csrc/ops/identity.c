/* identity.c: default ONNX Identity kernel, also behind Reshape, Flatten, Squeeze, Unsqueeze and
 * inference Dropout (static shapes make them copies): the same elements, any shape, of any element
 * type the library knows (the quantized models' uint8 and int8 included). */

#include <string.h>

#include "identity.h"

int ep_identity(const ep_tensor *x, ep_tensor *y)
{
    int64_t n;
    size_t size;
    int rc = x == NULL ? EP_ERR_ARG : ep_check_dtype(x, x->dtype);
    if (rc == EP_OK) {
        rc = ep_check_dtype(y, x->dtype);
    }
    if (rc != EP_OK) {
        return rc;
    }
    size = ep_dtype_size(x->dtype);
    if (size == 0) {
        return EP_ERR_DTYPE;
    }
    n = ep_numel(x);
    if (ep_numel(y) != n) {
        return EP_ERR_SHAPE;
    }
    if (n > 0 && y->data != x->data) { /* the arena planner may place y on x (a copy in place) */
        memcpy(y->data, x->data, (size_t)n * size);
    }
    return EP_OK;
}
