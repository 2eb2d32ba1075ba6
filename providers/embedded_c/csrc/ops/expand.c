/* expand.c: default ONNX Expand kernel: y's rows of its last axis, each a copy of x's row (x contiguous
 * along that axis) or one element of x repeated, an odometer over the axes before. */
#include <string.h>

#include "ep_broadcast.h"
#include "expand.h"

int ep_expand(const ep_tensor *x, ep_tensor *y)
{
    int64_t sx[EP_MAX_RANK], idx[EP_MAX_RANK], run, rows, r, off, i;
    const unsigned char *px;
    unsigned char *py;
    size_t size = x != NULL ? ep_dtype_size(x->dtype) : 0;
    int32_t d, last;
    int rc = x != NULL && y != NULL ? EP_OK : EP_ERR_ARG;
    if (rc == EP_OK) {
        rc = size == 0 ? EP_ERR_DTYPE : ep_check_dtype(x, x->dtype);
    }
    if (rc == EP_OK) {
        rc = ep_check_dtype(y, x->dtype);
    }
    if (rc != EP_OK) {
        return rc;
    }
    if (y->rank < x->rank || !ep_broadcast_strides(x, y, sx)) {
        return EP_ERR_SHAPE;
    }
    for (d = 0; d < y->rank; ++d) { /* y is exactly the broadcast: an axis of x past 1 is y's */
        int32_t j = d - (y->rank - x->rank);
        if (j >= 0 && x->dims[j] != 1 && x->dims[j] != y->dims[d]) {
            return EP_ERR_SHAPE;
        }
    }
    if (ep_numel(y) == 0) {
        return EP_OK;
    }
    px = (const unsigned char *)x->data;
    py = (unsigned char *)y->data;
    if (y->rank == 0) {
        memcpy(py, px, size);
        return EP_OK;
    }
    last = y->rank - 1;
    run = y->dims[last];
    rows = ep_numel(y) / run;
    memset(idx, 0, sizeof idx);
    off = 0;
    for (r = 0; r < rows; ++r) {
        unsigned char *dst = py + (size_t)(r * run) * size;
        if (sx[last] == 1) {
            memcpy(dst, px + (size_t)off * size, (size_t)run * size);
        } else {
            for (i = 0; i < run; ++i) {
                memcpy(dst + (size_t)i * size, px + (size_t)off * size, size);
            }
        }
        for (d = last - 1; d >= 0; --d) { /* the odometer: x's offset of the next row */
            off += sx[d];
            if (++idx[d] < y->dims[d]) {
                break;
            }
            off -= sx[d] * y->dims[d];
            idx[d] = 0;
        }
    }
    return EP_OK;
}
