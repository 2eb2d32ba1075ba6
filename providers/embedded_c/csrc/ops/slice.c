/* slice.c: default ONNX Slice kernel (odometer over the output, rows copied when the step is 1). */
#include <string.h>

#include "slice.h"
#include "ep_rows.h"

int ep_slice(const ep_tensor *x, ep_tensor *y, const int64_t *starts, const int64_t *steps)
{
    const float *px;
    float *py;
    int64_t idx[EP_MAX_RANK];
    int64_t base = 0, rows, row, last, j, lstep;
    int32_t r, d;
    int rc = ep_check_same_rank(x, y);
    if (rc != EP_OK) {
        return rc;
    }
    if (starts == NULL || steps == NULL) {
        return EP_ERR_ARG;
    }
    r = x->rank;
    for (d = 0; d < r; ++d) {
        int64_t n = x->dims[d];
        if (steps[d] == 0) {
            return EP_ERR_ARG;
        }
        if (y->dims[d] == 0) {
            continue;
        }
        /* first and last index read along d both inside x (|step| <= n keeps the product in range) */
        if (starts[d] < 0 || starts[d] >= n || y->dims[d] > n ||
            (y->dims[d] > 1 && (steps[d] > n || steps[d] < -n)) ||
            starts[d] + (y->dims[d] - 1) * steps[d] < 0 || starts[d] + (y->dims[d] - 1) * steps[d] >= n) {
            return EP_ERR_SHAPE;
        }
        base += starts[d] * x->strides[d];
    }
    px = (const float *)x->data;
    py = (float *)y->data;
    rows = ep_rows_start(x, y, idx);
    if (rows == 0) {
        return EP_OK;
    }
    last = y->dims[r - 1];
    lstep = steps[r - 1];
    for (row = 0; row < rows; ++row) {
        const float *src = px + base;
        float *dst = py + row * last;
        for (d = 0; d < r - 1; ++d) {
            src += idx[d] * steps[d] * x->strides[d];
        }
        if (lstep == 1) {
            memcpy(dst, src, (size_t)last * sizeof(float));
        } else if (lstep == 2) { /* a constant stride: the compiler vectorizes the gather (Focus layers) */
            for (j = 0; j < last; ++j) {
                dst[j] = src[2 * j];
            }
        } else {
            for (j = 0; j < last; ++j) {
                dst[j] = src[j * lstep];
            }
        }
        ep_next_row(idx, y);
    }
    return EP_OK;
}
