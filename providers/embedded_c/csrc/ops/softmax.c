/* softmax.c: default ONNX Softmax kernel (max-subtracted, double accumulation). */
#include <math.h>

#include "softmax.h"

int ep_softmax(const ep_tensor *x, ep_tensor *y, int32_t axis, int32_t flatten)
{
    const float *px;
    float *py;
    int64_t outer, len, inner, o, i, j;
    int rc = ep_check_same(x, y);
    if (rc == EP_OK) {
        rc = ep_axis_extents(x, axis, flatten, &outer, &len, &inner);
    }
    if (rc != EP_OK) {
        return rc;
    }
    px = (const float *)x->data;
    py = (float *)y->data;
    for (o = 0; o < outer; ++o) {
        for (j = 0; j < inner; ++j) {
            const float *xs = px + o * len * inner + j;
            float *ys = py + o * len * inner + j;
            float mx = -INFINITY;
            double sum = 0.0;
            for (i = 0; i < len; ++i) {
                if (xs[i * inner] > mx) {
                    mx = xs[i * inner];
                }
            }
            for (i = 0; i < len; ++i) {
                float e = expf(xs[i * inner] - mx);
                ys[i * inner] = e;
                sum += e;
            }
            for (i = 0; i < len; ++i) {
                ys[i * inner] = (float)(ys[i * inner] / sum);
            }
        }
    }
    return EP_OK;
}
