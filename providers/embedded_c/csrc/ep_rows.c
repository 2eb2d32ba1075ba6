/* ep_rows.c: row-wise drivers (see ep_rows.h). */
#include <math.h>
#include <string.h>

#include "ep_exp.h"
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

/* exp(x) for x <= 0 or NaN, what a softmax exponentiates (x - max): ep_expf's reduction and polynomial
 * without its overflow side, 0 below -87.34 and NaN kept; fewer selects, so the loops calling it run faster */
static float exp_nonpositive(float x)
{
    float xc = x >= -86.5f ? (x <= 0.0f ? x : 0.0f) : -86.5f; /* NaN: -86.5, replaced below */
    float n = ep_exp_steps(xc);
    float p = ep_exp_reduced(xc, n);
    float scale;
    int32_t bits = ((int32_t)n + 127) << 23; /* 2^n: n in -125..0 */
    memcpy(&scale, &bits, sizeof scale);
    p = p * scale;
    p = x < -87.3365f ? 0.0f : p;
    return x != x ? x : p;
}

/* Softmax of one contiguous row (the last axis): max (NaN never wins it, and then spoils the sum), the
 * exponentials, their sum in double, each multiplied by the sum's inverse (within an ulp of dividing);
 * the max and the sum run in eight lanes, so every loop vectorizes */
static void softmax_row(const float *xs, float *ys, int64_t len)
{
    double part[8] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
    float lane[8];
    double sum = 0.0;
    float mx = -INFINITY, inv;
    int64_t i, k;
    for (k = 0; k < 8; ++k) {
        lane[k] = -INFINITY;
    }
    for (i = 0; i + 8 <= len; i += 8) {
        for (k = 0; k < 8; ++k) {
            lane[k] = xs[i + k] > lane[k] ? xs[i + k] : lane[k];
        }
    }
    for (; i < len; ++i) {
        mx = xs[i] > mx ? xs[i] : mx;
    }
    for (k = 0; k < 8; ++k) {
        mx = lane[k] > mx ? lane[k] : mx;
    }
    for (i = 0; i < len; ++i) {
        ys[i] = exp_nonpositive(xs[i] - mx);
    }
    for (i = 0; i + 8 <= len; i += 8) {
        for (k = 0; k < 8; ++k) {
            part[k] += (double)ys[i + k];
        }
    }
    for (; i < len; ++i) {
        part[0] += (double)ys[i];
    }
    for (k = 0; k < 8; ++k) {
        sum += part[k];
    }
    inv = (float)(1.0 / sum);
    for (i = 0; i < len; ++i) {
        ys[i] *= inv;
    }
}

/* columns a Softmax over an inner axis (inner > 1) handles at once: their maxima and sums on the stack (1.5 KiB) */
#define EP_SOFTMAX_COLUMNS 128

/* Softmax along a strided axis of n adjacent columns (len rows `inner` apart): the same arithmetic per
 * column as the one-column loop (max, ep_expf, a sum in double in row order, a product with its inverse in
 * double), but
 * each pass runs along the rows' contiguous columns, so it vectorizes and reads memory in order */
static void softmax_columns(const float *xs, float *ys, int64_t len, int64_t inner, int64_t n)
{
    float mx[EP_SOFTMAX_COLUMNS];
    double sum[EP_SOFTMAX_COLUMNS];
    int64_t i, c;
    for (c = 0; c < n; ++c) {
        mx[c] = -INFINITY;
        sum[c] = 0.0;
    }
    for (i = 0; i < len; ++i) {
        const float *xr = xs + i * inner;
        for (c = 0; c < n; ++c) {
            mx[c] = xr[c] > mx[c] ? xr[c] : mx[c];
        }
    }
    for (i = 0; i < len; ++i) {
        const float *xr = xs + i * inner;
        float *yr = ys + i * inner;
        for (c = 0; c < n; ++c) {
            yr[c] = ep_expf(xr[c] - mx[c]);
            sum[c] += (double)yr[c];
        }
    }
    for (c = 0; c < n; ++c) {
        sum[c] = 1.0 / sum[c];
    }
    for (i = 0; i < len; ++i) {
        float *yr = ys + i * inner;
        for (c = 0; c < n; ++c) {
            yr[c] = (float)((double)yr[c] * sum[c]);
        }
    }
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
    if (inner == 1 && !logarithm) {
        for (o = 0; o < outer; ++o) {
            softmax_row(px + o * len, py + o * len, len);
        }
        return EP_OK;
    }
    if (!logarithm) {
        for (o = 0; o < outer; ++o) {
            for (j = 0; j < inner; j += EP_SOFTMAX_COLUMNS) {
                int64_t n = inner - j < EP_SOFTMAX_COLUMNS ? inner - j : EP_SOFTMAX_COLUMNS;
                softmax_columns(px + o * len * inner + j, py + o * len * inner + j, len, inner, n);
            }
        }
        return EP_OK;
    }
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
