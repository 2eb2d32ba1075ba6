/* concat.c: default ONNX Concat kernel. */
#include <string.h>

#include "concat.h"

int ep_concat(const ep_tensor *const *xs, int32_t n, int32_t axis, ep_tensor *y)
{
    float *py = (float *)y->data;
    int64_t outer = 1, inner = 1, ylen = y->dims[axis], off = 0, o;
    int32_t d, k;
    if (y->dtype != EP_FLOAT32) {
        return EP_ERR_DTYPE;
    }
    if (axis < 0 || axis >= y->rank) {
        return EP_ERR_ARG;
    }
    for (d = 0; d < axis; ++d) {
        outer *= y->dims[d];
    }
    for (d = axis + 1; d < y->rank; ++d) {
        inner *= y->dims[d];
    }
    for (k = 0; k < n; ++k) {
        const float *px = (const float *)xs[k]->data;
        int64_t len = xs[k]->dims[axis];
        if (xs[k]->dtype != EP_FLOAT32) {
            return EP_ERR_DTYPE;
        }
        if (xs[k]->rank != y->rank || off + len > ylen) {
            return EP_ERR_SHAPE;
        }
        for (o = 0; o < outer; ++o) {
            if (len * inner > 0) {
                memcpy(py + (o * ylen + off) * inner, px + o * len * inner, (size_t)(len * inner) * sizeof(float));
            }
        }
        off += len;
    }
    return EP_OK;
}
