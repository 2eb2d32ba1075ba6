/* ep_window.c: sliding-window geometry checks. */
#include "ep_window.h"

void ep_window_spatial(const ep_tensor *t, int64_t *h, int64_t *w)
{
    if (t->rank == 3) {
        *h = 1;
        *w = t->dims[2];
    } else {
        *h = t->dims[2];
        *w = t->dims[3];
    }
}

static int in_range(int64_t v, int64_t lo)
{
    return v >= lo && v <= EP_WINDOW_MAX;
}

int ep_window_check(const ep_tensor *x, const ep_tensor *y, const int64_t *kernel, const int64_t *strides,
                    const int64_t *pads, const int64_t *dilations, int ceil_ok)
{
    int64_t in[2];
    int64_t out[2];
    int a;
    for (a = 0; a < 2; ++a) {
        if (!in_range(kernel[a], 1) || !in_range(strides[a], 1) || !in_range(dilations[a], 1) ||
            !in_range(pads[a], 0) || !in_range(pads[a + 2], 0)) {
            return EP_ERR_ARG;
        }
    }
    if ((x->rank != 3 && x->rank != 4) || y->rank != x->rank || y->dims[0] != x->dims[0]) {
        return EP_ERR_SHAPE;
    }
    if (x->rank == 3 && (kernel[0] != 1 || strides[0] != 1 || dilations[0] != 1 || pads[0] != 0 || pads[2] != 0)) {
        return EP_ERR_ARG;
    }
    ep_window_spatial(x, &in[0], &in[1]);
    ep_window_spatial(y, &out[0], &out[1]);
    for (a = 0; a < 2; ++a) {
        int64_t extent = (kernel[a] - 1) * dilations[a] + 1;
        int64_t span = in[a] + pads[a] + pads[a + 2] - extent;
        int64_t floor_size, ceil_size;
        if (span < 0) {
            return EP_ERR_SHAPE;
        }
        floor_size = span / strides[a] + 1;
        ceil_size = (span + strides[a] - 1) / strides[a] + 1;
        if ((ceil_size - 1) * strides[a] >= in[a] + pads[a]) {
            --ceil_size;
        }
        if (out[a] != floor_size && !(ceil_ok && out[a] == ceil_size)) {
            return EP_ERR_SHAPE;
        }
    }
    return EP_OK;
}
