/* averagepool.c: default ONNX AveragePool kernel. */
#include "averagepool.h"

int ep_averagepool(const ep_tensor *x, ep_tensor *y, const ep_pool_params *p)
{
    const float *px = (const float *)x->data;
    float *py = (float *)y->data;
    int64_t planes = x->dims[0] * x->dims[1];
    int64_t ih = x->rank == 4 ? x->dims[2] : 1, iw = x->dims[x->rank - 1];
    int64_t oh = y->rank == 4 ? y->dims[2] : 1, ow = y->dims[y->rank - 1];
    int64_t c, oy, ox, ki, kj;
    if (x->dtype != EP_FLOAT32 || y->dtype != EP_FLOAT32) {
        return EP_ERR_DTYPE;
    }
    if ((x->rank != 3 && x->rank != 4) || y->rank != x->rank) {
        return EP_ERR_SHAPE;
    }
    for (c = 0; c < planes; ++c) {
        const float *xp = px + c * ih * iw;
        float *yp = py + c * oh * ow;
        for (oy = 0; oy < oh; ++oy) {
            for (ox = 0; ox < ow; ++ox) {
                float acc = 0.0f;
                int64_t count = 0;
                for (ki = 0; ki < p->kernel[0]; ++ki) {
                    int64_t yy = oy * p->strides[0] - p->pads[0] + ki * p->dilations[0];
                    int in_y = yy >= 0 && yy < ih;
                    int pad_y = yy >= -p->pads[0] && yy < ih + p->pads[2];
                    for (kj = 0; kj < p->kernel[1]; ++kj) {
                        int64_t xx = ox * p->strides[1] - p->pads[1] + kj * p->dilations[1];
                        int in_x = xx >= 0 && xx < iw;
                        if (in_y && in_x) {
                            acc += xp[yy * iw + xx];
                            ++count;
                        } else if (p->count_include_pad && pad_y && xx >= -p->pads[1] && xx < iw + p->pads[3]) {
                            ++count;
                        }
                    }
                }
                yp[oy * ow + ox] = count ? acc / (float)count : 0.0f;
            }
        }
    }
    return EP_OK;
}
