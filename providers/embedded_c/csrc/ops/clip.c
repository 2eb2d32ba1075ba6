/* clip.c: default ONNX Clip kernel. */
#include <math.h>

#include "clip.h"

int ep_clip(const ep_tensor *x, ep_tensor *y, float lo, float hi)
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
        py[i] = v < lo ? lo : (v > hi ? hi : v);
    }
    return EP_OK;
}
