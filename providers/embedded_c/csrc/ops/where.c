/* where.c: default ONNX Where kernel: the rows of the output's last axis, each element picked from x or y
 * by the condition, an odometer over the axes before. */
#include <string.h>

#include "ep_broadcast.h"
#include "where.h"

int ep_where(const ep_tensor *cond, const ep_tensor *x, const ep_tensor *y, ep_tensor *out)
{
    const ep_tensor *ins[3];
    int64_t st[3][EP_MAX_RANK], off[3] = {0, 0, 0}, idx[EP_MAX_RANK], run, rows, r, i;
    const unsigned char *pc, *px, *py;
    unsigned char *po;
    size_t size = x != NULL ? ep_dtype_size(x->dtype) : 0;
    int32_t d, last, k;
    int rc = ep_check_dtype(cond, EP_BOOL);
    if (rc == EP_OK) {
        rc = x == NULL ? EP_ERR_ARG : size == 0 ? EP_ERR_DTYPE : ep_check_dtype(x, x->dtype);
    }
    if (rc == EP_OK) {
        rc = ep_check_dtype(y, x->dtype);
    }
    if (rc == EP_OK) {
        rc = ep_check_dtype(out, x->dtype);
    }
    if (rc != EP_OK) {
        return rc;
    }
    ins[0] = cond;
    ins[1] = x;
    ins[2] = y;
    if (!ep_broadcast_exact(ins, 3, out)) {
        return EP_ERR_SHAPE;
    }
    for (k = 0; k < 3; ++k) {
        if (!ep_broadcast_strides(ins[k], out, st[k])) {
            return EP_ERR_SHAPE;
        }
    }
    if (ep_numel(out) == 0) {
        return EP_OK;
    }
    pc = (const unsigned char *)cond->data;
    px = (const unsigned char *)x->data;
    py = (const unsigned char *)y->data;
    po = (unsigned char *)out->data;
    if (out->rank == 0) {
        memcpy(po, pc[0] ? px : py, size);
        return EP_OK;
    }
    last = out->rank - 1;
    run = out->dims[last];
    rows = ep_numel(out) / run;
    memset(idx, 0, sizeof idx);
    for (r = 0; r < rows; ++r) {
        unsigned char *dst = po + (size_t)(r * run) * size;
        for (i = 0; i < run; ++i) {
            const unsigned char *src = pc[off[0] + i * st[0][last]] ? px + (size_t)(off[1] + i * st[1][last]) * size
                                                                     : py + (size_t)(off[2] + i * st[2][last]) * size;
            memcpy(dst + (size_t)i * size, src, size);
        }
        for (d = last - 1; d >= 0; --d) { /* the odometer: the inputs' offsets of the next row */
            for (k = 0; k < 3; ++k) {
                off[k] += st[k][d];
            }
            if (++idx[d] < out->dims[d]) {
                break;
            }
            for (k = 0; k < 3; ++k) {
                off[k] -= st[k][d] * out->dims[d];
            }
            idx[d] = 0;
        }
    }
    return EP_OK;
}
