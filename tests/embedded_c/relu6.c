/* relu6.c: a vendor Relu for the swap test: clamps at 6, so its effect is visible. */
#include "relu.h"

int ep_relu(const ep_tensor *x, ep_tensor *y)
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
        py[i] = v < 0.0f ? 0.0f : (v > 6.0f ? 6.0f : v);
    }
    return EP_OK;
}
