/* ep_rows.c: row-wise drivers (see ep_rows.h). */
#include <math.h>
#include <string.h>

#include "ep_rows.h"

int ep_check_same_rank(const ep_tensor *x, const ep_tensor *y)
{
    int rc = ep_check(x);
    if (rc == EP_OK) {
        rc = ep_check(y);
    }
    if (rc == EP_OK && x->rank != y->rank) {
        rc = EP_ERR_SHAPE;
    }
    return rc;
}

int64_t ep_rows_start(const ep_tensor *x, ep_tensor *y, int64_t *idx)
{
    int32_t d;
    int64_t n = ep_numel(y);
    if (n == 0) {
        return 0;
    }
    if (y->rank == 0) {
        ((float *)y->data)[0] = ((const float *)x->data)[0];
        return 0;
    }
    for (d = 0; d < y->rank; ++d) {
        idx[d] = 0;
    }
    return n / y->dims[y->rank - 1];
}

void ep_next_row(int64_t *idx, const ep_tensor *t)
{
    int32_t d;
    for (d = t->rank - 2; d >= 0; --d) {
        if (++idx[d] < t->dims[d]) {
            return;
        }
        idx[d] = 0;
    }
}

int ep_axis_pieces(const ep_tensor *whole, const ep_tensor *const *pieces, int32_t n, int32_t axis, int split)
{
    float *pw;
    int64_t outer = 1, inner = 1, wlen, off = 0, o;
    int32_t d, k;
    int rc = ep_check(whole);
    if (rc != EP_OK) {
        return rc;
    }
    if (pieces == NULL || n < 1 || axis < 0 || axis >= whole->rank) {
        return EP_ERR_ARG;
    }
    for (k = 0; k < n; ++k) { /* every piece matches whole off the axis; their lengths add up to whole's */
        rc = ep_check(pieces[k]);
        if (rc != EP_OK) {
            return rc;
        }
        if (pieces[k]->rank != whole->rank) {
            return EP_ERR_SHAPE;
        }
        for (d = 0; d < whole->rank; ++d) {
            if (d != axis && pieces[k]->dims[d] != whole->dims[d]) {
                return EP_ERR_SHAPE;
            }
        }
        off += pieces[k]->dims[axis];
    }
    wlen = whole->dims[axis];
    if (off != wlen) {
        return EP_ERR_SHAPE;
    }
    pw = (float *)whole->data;
    for (d = 0; d < axis; ++d) {
        outer *= whole->dims[d];
    }
    for (d = axis + 1; d < whole->rank; ++d) {
        inner *= whole->dims[d];
    }
    off = 0;
    for (k = 0; k < n; ++k) {
        float *pp = (float *)pieces[k]->data;
        int64_t len = pieces[k]->dims[axis];
        size_t bytes = (size_t)(len * inner) * sizeof(float);
        for (o = 0; o < outer && len * inner > 0; ++o) {
            float *in_whole = pw + (o * wlen + off) * inner;
            float *in_piece = pp + o * len * inner;
            if (split) {
                memcpy(in_piece, in_whole, bytes);
            } else {
                memcpy(in_whole, in_piece, bytes);
            }
        }
        off += len;
    }
    return EP_OK;
}

int ep_softmax_rows(const ep_tensor *x, ep_tensor *y, int32_t axis, int32_t flatten, int logarithm)
{
    const float *px;
    float *py;
    int64_t outer, len, inner, o, i, j;
    int rc = ep_check_same(x, y);
    if (rc == EP_OK) {
        rc = ep_axis_extents(x, axis, flatten, &outer, &len, &inner);
    }
    if (rc != EP_OK) {
        return rc;
    }
    px = (const float *)x->data;
    py = (float *)y->data;
    for (o = 0; o < outer; ++o) {
        for (j = 0; j < inner; ++j) {
            const float *xs = px + o * len * inner + j;
            float *ys = py + o * len * inner + j;
            float mx = -INFINITY;
            double sum = 0.0;
            for (i = 0; i < len; ++i) {
                if (xs[i * inner] > mx) {
                    mx = xs[i * inner];
                }
            }
            if (logarithm) {
                for (i = 0; i < len; ++i) {
                    sum += exp((double)xs[i * inner] - (double)mx);
                }
                for (i = 0; i < len; ++i) {
                    ys[i * inner] = (float)((double)xs[i * inner] - (double)mx - log(sum));
                }
                continue;
            }
            for (i = 0; i < len; ++i) {
                float e = expf(xs[i * inner] - mx);
                ys[i * inner] = e;
                sum += e;
            }
            for (i = 0; i < len; ++i) {
                ys[i * inner] = (float)(ys[i * inner] / sum);
            }
        }
    }
    return EP_OK;
}
