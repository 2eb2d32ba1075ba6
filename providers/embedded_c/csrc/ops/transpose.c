/* transpose.c: default ONNX Transpose kernel (odometer over the output). */
#include "transpose.h"

int ep_transpose(const ep_tensor *x, ep_tensor *y, const int64_t *perm)
{
    const float *px;
    float *py;
    int64_t n, i;
    int64_t idx[EP_MAX_RANK];
    int64_t st[EP_MAX_RANK];
    int64_t off = 0;
    int32_t r, d;
    int seen = 0; /* bit d: axis d of x already taken by perm */
    int rc = ep_check(x);
    if (rc == EP_OK) {
        rc = ep_check(y);
    }
    if (rc != EP_OK) {
        return rc;
    }
    r = y->rank;
    if (x->rank != r) {
        return EP_ERR_SHAPE;
    }
    if (perm == NULL && r > 0) {
        return EP_ERR_ARG;
    }
    for (d = 0; d < r; ++d) {
        if (perm[d] < 0 || perm[d] >= r || ((seen >> perm[d]) & 1)) {
            return EP_ERR_ARG;
        }
        seen |= 1 << perm[d];
        if (y->dims[d] != x->dims[perm[d]]) {
            return EP_ERR_SHAPE;
        }
        st[d] = x->strides[perm[d]];
        idx[d] = 0;
    }
    px = (const float *)x->data;
    py = (float *)y->data;
    n = ep_numel(y);
    for (i = 0; i < n; ++i) {
        py[i] = px[off];
        for (d = r - 1; d >= 0; --d) {
            off += st[d];
            if (++idx[d] < y->dims[d]) {
                break;
            }
            off -= st[d] * y->dims[d];
            idx[d] = 0;
        }
    }
    return EP_OK;
}
