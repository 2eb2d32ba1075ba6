/* sigmoid.c: default ONNX Sigmoid kernel. */
#include <math.h>

#include "sigmoid.h"

int ep_sigmoid(const ep_tensor *x, ep_tensor *y)
{
    const float *px = (const float *)x->data;
    float *py = (float *)y->data;
    int64_t n = ep_numel(x);
    int64_t i;
    if (x->dtype != EP_FLOAT32 || y->dtype != EP_FLOAT32) {
        return EP_ERR_DTYPE;
    }
    for (i = 0; i < n; ++i) {
        float v = px[i];
        py[i] = v >= 0.0f ? 1.0f / (1.0f + expf(-v)) : expf(v) / (1.0f + expf(v));
    }
    return EP_OK;
}
