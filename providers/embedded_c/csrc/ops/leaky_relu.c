/* leaky_relu.c: default ONNX LeakyRelu kernel. */
#include <math.h>

#include "leaky_relu.h"

int ep_leaky_relu(const ep_tensor *x, ep_tensor *y, float alpha)
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
        py[i] = v >= 0.0f ? v : v * alpha;
    }
    return EP_OK;
}
