/* sigmoid.c: default ONNX Sigmoid kernel. */
#include <math.h>

#include "sigmoid.h"

int ep_sigmoid(const ep_tensor *x, ep_tensor *y)
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
        py[i] = v >= 0.0f ? 1.0f / (1.0f + expf(-v)) : expf(v) / (1.0f + expf(v));
    }
    return EP_OK;
}
