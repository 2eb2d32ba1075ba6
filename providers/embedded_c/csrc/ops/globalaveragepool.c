/* globalaveragepool.c: default ONNX GlobalAveragePool kernel. */
#include "globalaveragepool.h"

int ep_globalaveragepool(const ep_tensor *x, ep_tensor *y)
{
    const float *px = (const float *)x->data;
    float *py = (float *)y->data;
    int64_t planes, size = 1, c, i;
    int32_t d;
    if (x->dtype != EP_FLOAT32 || y->dtype != EP_FLOAT32) {
        return EP_ERR_DTYPE;
    }
    if (x->rank < 2) {
        return EP_ERR_SHAPE;
    }
    planes = x->dims[0] * x->dims[1];
    for (d = 2; d < x->rank; ++d) {
        size *= x->dims[d];
    }
    for (c = 0; c < planes; ++c) {
        double acc = 0.0;
        for (i = 0; i < size; ++i) {
            acc += px[c * size + i];
        }
        py[c] = (float)(acc / (double)size);
    }
    return EP_OK;
}
