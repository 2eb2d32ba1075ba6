/* affine.c: a per-channel or whole-tensor scale and shift in one pass (see affine.h). */
#include "affine.h"

int ep_affine(const ep_tensor *x, const ep_tensor *scale, const ep_tensor *shift, ep_tensor *y)
{
    const float *px, *ps, *pb;
    float *py;
    int64_t outer, channels, inner, ns, nb, o, c, i;
    int rc = ep_check_same(x, y);
    if (rc == EP_OK) {
        rc = ep_check(scale);
    }
    if (rc == EP_OK) {
        rc = ep_check(shift);
    }
    if (rc != EP_OK) {
        return rc;
    }
    channels = x->rank >= 2 ? x->dims[1] : 1;
    ns = ep_numel(scale);
    nb = ep_numel(shift);
    if ((ns != 1 && ns != channels) || (nb != 1 && nb != channels)) {
        return EP_ERR_SHAPE;
    }
    if (ep_numel(x) == 0) {
        return EP_OK;
    }
    outer = x->rank >= 2 ? x->dims[0] : 1;
    inner = ep_numel(x) / (outer * channels);
    px = (const float *)x->data;
    py = (float *)y->data;
    ps = (const float *)scale->data;
    pb = (const float *)shift->data;
    for (o = 0; o < outer; ++o) {
        for (c = 0; c < channels; ++c) {
            const float s = ps[ns == 1 ? 0 : c];
            const float b = pb[nb == 1 ? 0 : c];
            const float *xs = px + (o * channels + c) * inner;
            float *ys = py + (o * channels + c) * inner;
            for (i = 0; i < inner; ++i) {
                ys[i] = xs[i] * s + b;
            }
        }
    }
    return EP_OK;
}
