/* split.c: default ONNX Split kernel (the inverse of Concat's copies). */
#include <string.h>

#include "split.h"

int ep_split(const ep_tensor *x, int32_t axis, const ep_tensor *const *ys, int32_t n)
{
    const float *px;
    int64_t outer = 1, inner = 1, xlen, off = 0, o;
    int32_t d, k;
    int rc = ep_check(x);
    if (rc != EP_OK) {
        return rc;
    }
    if (ys == NULL || n < 1 || axis < 0 || axis >= x->rank) {
        return EP_ERR_ARG;
    }
    for (k = 0; k < n; ++k) {
        rc = ep_check(ys[k]);
        if (rc != EP_OK) {
            return rc;
        }
        if (ys[k]->rank != x->rank) {
            return EP_ERR_SHAPE;
        }
        for (d = 0; d < x->rank; ++d) {
            if (d != axis && ys[k]->dims[d] != x->dims[d]) {
                return EP_ERR_SHAPE;
            }
        }
        off += ys[k]->dims[axis];
    }
    xlen = x->dims[axis];
    if (off != xlen) {
        return EP_ERR_SHAPE;
    }
    px = (const float *)x->data;
    for (d = 0; d < axis; ++d) {
        outer *= x->dims[d];
    }
    for (d = axis + 1; d < x->rank; ++d) {
        inner *= x->dims[d];
    }
    off = 0;
    for (k = 0; k < n; ++k) {
        float *py = (float *)ys[k]->data;
        int64_t len = ys[k]->dims[axis];
        for (o = 0; o < outer; ++o) {
            if (len * inner > 0) {
                memcpy(py + o * len * inner, px + (o * xlen + off) * inner, (size_t)(len * inner) * sizeof(float));
            }
        }
        off += len;
    }
    return EP_OK;
}
