/* gather.c: default ONNX Gather kernel (one block copy per outer index and gathered index, of any element
 * type the library has). */
#include <string.h>

#include "gather.h"

static int64_t index_at(const ep_tensor *indices, int64_t k)
{
    return indices->dtype == EP_INT64 ? ((const int64_t *)indices->data)[k]
                                      : (int64_t)((const int32_t *)indices->data)[k];
}

int ep_gather(const ep_tensor *x, const ep_tensor *indices, ep_tensor *y, int32_t axis)
{
    const unsigned char *px;
    unsigned char *py;
    int64_t outer = 1, inner = 1, dim, n, o, k;
    int32_t d;
    size_t size = x != NULL ? ep_dtype_size(x->dtype) : 0;
    int rc = x != NULL && y != NULL ? EP_OK : EP_ERR_ARG;
    if (rc == EP_OK) {
        rc = size == 0 ? EP_ERR_DTYPE : ep_check_dtype(x, x->dtype);
    }
    if (rc == EP_OK) {
        rc = ep_check_dtype(y, x->dtype);
    }
    if (rc == EP_OK) {
        rc = indices != NULL && indices->dtype == EP_INT32 ? ep_check_dtype(indices, EP_INT32)
                                                           : ep_check_dtype(indices, EP_INT64);
    }
    if (rc != EP_OK) {
        return rc;
    }
    if (axis < 0 || axis >= x->rank) {
        return EP_ERR_ARG;
    }
    for (d = 0; d < axis; ++d) {
        outer *= x->dims[d];
    }
    for (d = axis + 1; d < x->rank; ++d) {
        inner *= x->dims[d];
    }
    dim = x->dims[axis];
    n = ep_numel(indices);
    if (ep_numel(y) != outer * n * inner) {
        return EP_ERR_SHAPE;
    }
    for (k = 0; k < n; ++k) {
        int64_t v = index_at(indices, k);
        if (v < -dim || v >= dim) {
            return EP_ERR_SHAPE;
        }
    }
    px = (const unsigned char *)x->data;
    py = (unsigned char *)y->data;
    if (inner == 0) {
        return EP_OK;
    }
    for (o = 0; o < outer; ++o) {
        for (k = 0; k < n; ++k) {
            int64_t v = index_at(indices, k);
            v = v < 0 ? v + dim : v;
            memcpy(py + (size_t)((o * n + k) * inner) * size, px + (size_t)((o * dim + v) * inner) * size,
                   (size_t)inner * size);
        }
    }
    return EP_OK;
}
