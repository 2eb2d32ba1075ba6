/* transpose.c: default ONNX Transpose kernel (odometer over the output). */
#include "transpose.h"

int ep_transpose(const ep_tensor *x, ep_tensor *y, const int64_t *perm)
{
    const float *px = (const float *)x->data;
    float *py = (float *)y->data;
    int64_t n = ep_numel(y), i;
    int64_t idx[EP_MAX_RANK];
    int64_t st[EP_MAX_RANK];
    int64_t off = 0;
    int32_t r = y->rank, d;
    if (x->dtype != EP_FLOAT32 || y->dtype != EP_FLOAT32) {
        return EP_ERR_DTYPE;
    }
    if (x->rank != r) {
        return EP_ERR_SHAPE;
    }
    for (d = 0; d < r; ++d) {
        if (perm[d] < 0 || perm[d] >= r || y->dims[d] != x->dims[perm[d]]) {
            return EP_ERR_ARG;
        }
        st[d] = x->strides[perm[d]];
        idx[d] = 0;
    }
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
