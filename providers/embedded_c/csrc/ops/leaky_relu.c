/* leaky_relu.c: default ONNX LeakyRelu kernel. */
#include <math.h>

#include "leaky_relu.h"

int ep_leaky_relu(const ep_tensor *x, ep_tensor *y, float alpha)
{
    const float *px;
    float *py;
    int64_t n, i;
    int rc = ep_check_same(x, y);
    if (rc != EP_OK) {
        return rc;
    }
    px = (const float *)x->data;
    py = (float *)y->data;
    n = ep_numel(x);
    for (i = 0; i < n; ++i) {
        float v = px[i];
        py[i] = v < 0.0f ? v * alpha : v;
    }
    return EP_OK;
}
