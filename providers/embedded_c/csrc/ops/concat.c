/* concat.c: default ONNX Concat kernel. */
#include <string.h>

#include "concat.h"

int ep_concat(const ep_tensor *const *xs, int32_t n, int32_t axis, ep_tensor *y)
{
    float *py;
    int64_t outer = 1, inner = 1, ylen, off = 0, o;
    int32_t d, k;
    int rc = ep_check(y);
    if (rc != EP_OK) {
        return rc;
    }
    if (xs == NULL || n < 1 || axis < 0 || axis >= y->rank) {
        return EP_ERR_ARG;
    }
    for (k = 0; k < n; ++k) { /* every input matches y off the axis; their lengths add up to y's */
        rc = ep_check(xs[k]);
        if (rc != EP_OK) {
            return rc;
        }
        if (xs[k]->rank != y->rank) {
            return EP_ERR_SHAPE;
        }
        for (d = 0; d < y->rank; ++d) {
            if (d != axis && xs[k]->dims[d] != y->dims[d]) {
                return EP_ERR_SHAPE;
            }
        }
        off += xs[k]->dims[axis];
    }
    ylen = y->dims[axis];
    if (off != ylen) {
        return EP_ERR_SHAPE;
    }
    py = (float *)y->data;
    for (d = 0; d < axis; ++d) {
        outer *= y->dims[d];
    }
    for (d = axis + 1; d < y->rank; ++d) {
        inner *= y->dims[d];
    }
    off = 0;
    for (k = 0; k < n; ++k) {
        const float *px = (const float *)xs[k]->data;
        int64_t len = xs[k]->dims[axis];
        for (o = 0; o < outer; ++o) {
            if (len * inner > 0) {
                memcpy(py + (o * ylen + off) * inner, px + o * len * inner, (size_t)(len * inner) * sizeof(float));
            }
        }
        off += len;
    }
    return EP_OK;
}
