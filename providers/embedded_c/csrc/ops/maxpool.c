/* maxpool.c: default ONNX MaxPool kernel (padding never wins: it is -inf). */
#include <math.h>

#include "ep_window.h"
#include "maxpool.h"

int ep_maxpool(const ep_tensor *x, ep_tensor *y, const ep_pool_params *p)
{
    const float *px;
    float *py;
    int64_t planes, ih, iw, oh, ow;
    int64_t c, oy, ox, ki, kj;
    int rc = ep_check(x);
    if (rc == EP_OK) {
        rc = ep_check(y);
    }
    if (rc == EP_OK && p == NULL) {
        rc = EP_ERR_ARG;
    }
    if (rc == EP_OK) {
        rc = ep_window_check(x, y, p->kernel, p->strides, p->pads, p->dilations, 1);
    }
    if (rc != EP_OK) {
        return rc;
    }
    if (y->dims[1] != x->dims[1]) {
        return EP_ERR_SHAPE;
    }
    px = (const float *)x->data;
    py = (float *)y->data;
    planes = x->dims[0] * x->dims[1];
    ep_window_spatial(x, &ih, &iw);
    ep_window_spatial(y, &oh, &ow);
    for (c = 0; c < planes; ++c) {
        const float *xp = px + c * ih * iw;
        float *yp = py + c * oh * ow;
        for (oy = 0; oy < oh; ++oy) {
            for (ox = 0; ox < ow; ++ox) {
                float best = -INFINITY;
                int nan = 0;
                for (ki = 0; ki < p->kernel[0]; ++ki) {
                    int64_t yy = oy * p->strides[0] - p->pads[0] + ki * p->dilations[0];
                    if (yy < 0 || yy >= ih) {
                        continue;
                    }
                    for (kj = 0; kj < p->kernel[1]; ++kj) {
                        int64_t xx = ox * p->strides[1] - p->pads[1] + kj * p->dilations[1];
                        float v;
                        if (xx < 0 || xx >= iw) {
                            continue;
                        }
                        v = xp[yy * iw + xx];
                        if (v != v) {
                            nan = 1;
                        } else if (v > best) {
                            best = v;
                        }
                    }
                }
                yp[oy * ow + ox] = nan ? NAN : best;
            }
        }
    }
    return EP_OK;
}
