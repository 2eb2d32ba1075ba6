/* clip.c: default ONNX Clip kernel (NaN stays NaN). */
#include <math.h>

#include "clip.h"

int ep_clip(const ep_tensor *x, ep_tensor *y, float lo, float hi)
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
        py[i] = v < lo ? lo : (v > hi ? hi : v);
    }
    return EP_OK;
}
