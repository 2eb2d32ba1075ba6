/* sum.c: default ONNX Sum kernel. */
#include "sum.h"
#include "ep_broadcast.h"

int ep_sum(const ep_tensor *const *xs, int32_t n, ep_tensor *y)
{
    float *py;
    int64_t total, i;
    int64_t zero[EP_MAX_RANK];
    int32_t k;
    int rc = ep_check(y);
    if (rc != EP_OK) {
        return rc;
    }
    if (xs == NULL || n < 1) {
        return EP_ERR_ARG;
    }
    for (k = 0; k < n; ++k) {
        rc = ep_check(xs[k]);
        if (rc != EP_OK) {
            return rc;
        }
    }
    if (!ep_broadcast_exact(xs, n, y)) {
        return EP_ERR_SHAPE;
    }
    py = (float *)y->data;
    total = ep_numel(y);
    for (k = 0; k < EP_MAX_RANK; ++k) {
        zero[k] = 0;
    }
    for (k = 0; k < n; ++k) {
        const float *px = (const float *)xs[k]->data;
        int64_t sx[EP_MAX_RANK];
        if (!ep_broadcast_strides(xs[k], y, sx)) {
            return EP_ERR_SHAPE;
        }
        if (ep_numel(xs[k]) == total && ep_is_contiguous(xs[k])) {
            for (i = 0; i < total; ++i) {
                py[i] = k ? py[i] + px[i] : px[i];
            }
        } else {
            for (i = 0; i < total; ++i) {
                int64_t ox, unused;
                ep_broadcast_offsets(y, i, sx, zero, &ox, &unused);
                py[i] = k ? py[i] + px[ox] : px[ox];
            }
        }
    }
    return EP_OK;
}
