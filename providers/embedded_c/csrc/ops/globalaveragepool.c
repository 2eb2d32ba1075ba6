/* globalaveragepool.c: default ONNX GlobalAveragePool kernel. */
#include "globalaveragepool.h"

int ep_globalaveragepool(const ep_tensor *x, ep_tensor *y)
{
    const float *px;
    float *py;
    int64_t planes, size = 1, c, i;
    int32_t d;
    int rc = ep_check(x);
    if (rc == EP_OK) {
        rc = ep_check(y);
    }
    if (rc != EP_OK) {
        return rc;
    }
    if (x->rank < 2 || y->rank != x->rank || y->dims[0] != x->dims[0] || y->dims[1] != x->dims[1]) {
        return EP_ERR_SHAPE;
    }
    for (d = 2; d < x->rank; ++d) {
        if (y->dims[d] != 1) {
            return EP_ERR_SHAPE;
        }
        size *= x->dims[d];
    }
    px = (const float *)x->data;
    py = (float *)y->data;
    planes = x->dims[0] * x->dims[1];
    for (c = 0; c < planes; ++c) {
        /* the sum in double, in eight lanes so that the loop vectorizes */
        const float *xs = px + c * size;
        double lane[8] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
        double acc = 0.0;
        int k;
        for (i = 0; i + 8 <= size; i += 8) {
            for (k = 0; k < 8; ++k) {
                lane[k] += (double)xs[i + k];
            }
        }
        for (; i < size; ++i) {
            acc += (double)xs[i];
        }
        for (k = 0; k < 8; ++k) {
            acc += lane[k];
        }
        py[c] = (float)(acc / (double)size);
    }
    return EP_OK;
}
