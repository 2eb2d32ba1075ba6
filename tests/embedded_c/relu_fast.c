/* relu_fast.c: a correct vendor Relu (branch-free select, unrolled by four, NaN kept) for the gate test. */
#include "relu.h"

int ep_relu(const ep_tensor *x, ep_tensor *y)
{
    const float *px = (const float *)x->data;
    float *py = (float *)y->data;
    int64_t n = ep_numel(x);
    int64_t i = 0;
    if (x->dtype != EP_FLOAT32 || y->dtype != EP_FLOAT32) {
        return EP_ERR_DTYPE;
    }
    for (; i + 4 <= n; i += 4) {
        float a = px[i], b = px[i + 1], c = px[i + 2], d = px[i + 3];
        py[i] = a < 0.0f ? 0.0f : a;
        py[i + 1] = b < 0.0f ? 0.0f : b;
        py[i + 2] = c < 0.0f ? 0.0f : c;
        py[i + 3] = d < 0.0f ? 0.0f : d;
    }
    for (; i < n; ++i) {
        py[i] = px[i] < 0.0f ? 0.0f : px[i];
    }
    return EP_OK;
}
