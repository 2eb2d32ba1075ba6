/* pad.c: default ONNX Pad kernel: each output row is copied from its input row (or filled). */
#include "pad.h"
#include "ep_rows.h"

#define EP_PAD_LIMIT ((int64_t)1 << 40)

/* Index into [0, n) that output position `i` (already shifted by the begin pad) reads, or -1 for
 * the constant value. */
static int64_t source_index(int64_t i, int64_t n, int32_t mode)
{
    int64_t period;
    if (i >= 0 && i < n) {
        return i;
    }
    switch (mode) {
    case EP_PAD_EDGE:
        return i < 0 ? 0 : n - 1;
    case EP_PAD_WRAP:
        i %= n;
        return i < 0 ? i + n : i;
    case EP_PAD_REFLECT:
        period = 2 * (n - 1);
        i %= period;
        if (i < 0) {
            i += period;
        }
        return i < n ? i : period - i;
    default:
        return -1;
    }
}

int ep_pad(const ep_tensor *x, ep_tensor *y, const int64_t *begin, int32_t mode, float value)
{
    const float *px;
    float *py;
    int64_t idx[EP_MAX_RANK];
    int64_t rows, row, last_n, last_in, j;
    int32_t r, d;
    int rc = ep_check_same_rank(x, y);
    if (rc != EP_OK) {
        return rc;
    }
    if (begin == NULL || mode < EP_PAD_CONSTANT || mode > EP_PAD_WRAP) {
        return EP_ERR_ARG;
    }
    r = x->rank;
    for (d = 0; d < r; ++d) {
        int64_t end = y->dims[d] - x->dims[d] - begin[d];
        if (begin[d] < -EP_PAD_LIMIT || begin[d] > EP_PAD_LIMIT || end < -EP_PAD_LIMIT || end > EP_PAD_LIMIT) {
            return EP_ERR_ARG;
        }
        /* an axis that reads outside x needs somewhere to read from (constant mode does not) */
        if (mode != EP_PAD_CONSTANT && y->dims[d] > 0 && (begin[d] > 0 || end > 0) &&
            (x->dims[d] == 0 || (mode == EP_PAD_REFLECT && x->dims[d] == 1))) {
            return EP_ERR_SHAPE;
        }
    }
    px = (const float *)x->data;
    py = (float *)y->data;
    rows = ep_rows_start(x, y, idx);
    if (rows == 0) {
        return EP_OK;
    }
    last_n = y->dims[r - 1];
    last_in = x->dims[r - 1];
    for (row = 0; row < rows; ++row) {
        float *dst = py + row * last_n;
        int64_t off = 0;
        int inside = 1;
        for (d = 0; d < r - 1; ++d) {
            int64_t s = source_index(idx[d] - begin[d], x->dims[d], mode);
            if (s < 0) {
                inside = 0;
                break;
            }
            off += s * x->strides[d];
        }
        if (!inside) {
            for (j = 0; j < last_n; ++j) {
                dst[j] = value;
            }
        } else {
            const float *src = px + off;
            for (j = 0; j < last_n; ++j) {
                int64_t s = source_index(j - begin[r - 1], last_in, mode);
                dst[j] = s < 0 ? value : src[s];
            }
        }
        ep_next_row(idx, y);
    }
    return EP_OK;
}
