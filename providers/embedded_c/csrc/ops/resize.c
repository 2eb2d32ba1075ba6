/* resize.c: default ONNX Resize kernel (nearest, linear and cubic from the caller's tap tables).
 *
 * Rows first, as resize.h states: each output row blends its th input rows into a stack row of at most
 * EP_RESIZE_ROW floats (one contiguous loop the compiler vectorizes), then each output element blends
 * tw elements of that row. Rows of a wider input blend per output element, in the same order, so both
 * give the same results. Two-tap columns that repeat in pairs shifted by one input column (twice the width)
 * blend as two in-order streams. Nearest (every weight 1) gathers each output row from its input row (each
 * element twice, in order, at twice the width) and copies an output row whose input row is the previous one's. */
#include "resize.h"

#include <string.h>

/* floats of the blended input row held on the stack (2 KiB) */
#define EP_RESIZE_ROW 512
/* output columns per chunk of a wider row */
#define EP_RESIZE_CHUNK 128

static int indices_inside(const int64_t *idx, int64_t count, int64_t n)
{
    int64_t i;
    for (i = 0; i < count; ++i) {
        if (idx[i] < 0 || idx[i] >= n) {
            return 0;
        }
    }
    return 1;
}

static int all_ones(const float *w, int64_t count)
{
    int64_t i;
    for (i = 0; i < count; ++i) {
        if (w[i] != 1.0f) {
            return 0;
        }
    }
    return 1;
}

/* y[ow] = x[iw[ow]] for one row */
static void gather_row(const float *x, const int64_t *iw, float *y, int64_t out_w)
{
    int64_t ow;
    for (ow = 0; ow < out_w; ++ow) {
        y[ow] = x[iw[ow]];
    }
}

/* 1 when iw[ow] = ow / 2 for every output column (nearest to twice the width, floor or asymmetric) */
static int doubles_columns(const int64_t *iw, int64_t out_w)
{
    int64_t ow;
    for (ow = 0; ow < out_w; ++ow) {
        if (iw[ow] != ow / 2) {
            return 0;
        }
    }
    return 1;
}

/* y[2k] = y[2k + 1] = x[k]: each input element twice, in order (the loop vectorizes) */
static void double_row(const float *x, float *y, int64_t out_w)
{
    int64_t k;
    for (k = 0; k < out_w / 2; ++k) {
        y[2 * k] = x[k];
        y[2 * k + 1] = x[k];
    }
    if (out_w % 2) {
        y[out_w - 1] = x[out_w / 2];
    }
}

static void nearest_plane(const float *xp, float *yp, int64_t in_w, int64_t out_h, int64_t out_w,
                          const int64_t *ih, const int64_t *iw, int doubled)
{
    int64_t oh;
    for (oh = 0; oh < out_h; ++oh) {
        float *row = yp + oh * out_w;
        if (oh > 0 && ih[oh] == ih[oh - 1]) {
            memcpy(row, row - out_w, (size_t)out_w * sizeof(float));
        } else if (doubled) {
            double_row(xp + ih[oh] * in_w, row, out_w);
        } else {
            gather_row(xp + ih[oh] * in_w, iw, row, out_w);
        }
    }
}

/* t[c - lo] = sum_a rw[a] * x[rows[a] * in_w + c] for c in [lo, lo + n) (the per-element blend's order) */
static void blend_rows(const float *xp, int64_t in_w, int64_t lo, int64_t n, int32_t th, const int64_t *rows,
                       const float *rw, float *t)
{
    int64_t c;
    int32_t a;
    const float *r0 = xp + rows[0] * in_w + lo;
    const float w0 = rw[0];
    if (th == 2) {
        const float *r1 = xp + rows[1] * in_w + lo;
        const float w1 = rw[1];
        for (c = 0; c < n; ++c) {
            t[c] = w0 * r0[c] + w1 * r1[c];
        }
        return;
    }
    for (c = 0; c < n; ++c) {
        t[c] = w0 * r0[c];
    }
    for (a = 1; a < th; ++a) {
        const float *ra = xp + rows[a] * in_w + lo;
        const float wa = rw[a];
        for (c = 0; c < n; ++c) {
            t[c] += wa * ra[c];
        }
    }
}

/* y[ow] = sum_b ww[ow * tw + b] * t[iw[ow * tw + b] - lo] */
static void blend_columns(const float *t, int64_t lo, int32_t tw, const int64_t *iw, const float *ww, float *y,
                          int64_t out_w)
{
    int64_t ow;
    int32_t b;
    if (tw == 1) {
        for (ow = 0; ow < out_w; ++ow) {
            y[ow] = ww[ow] * t[iw[ow] - lo];
        }
    } else if (tw == 2) {
        for (ow = 0; ow < out_w; ++ow) {
            y[ow] = ww[2 * ow] * t[iw[2 * ow] - lo] + ww[2 * ow + 1] * t[iw[2 * ow + 1] - lo];
        }
    } else if (tw == 4) {
        for (ow = 0; ow < out_w; ++ow) {
            const int64_t *c = iw + 4 * ow;
            const float *w = ww + 4 * ow;
            y[ow] = w[0] * t[c[0] - lo] + w[1] * t[c[1] - lo] + w[2] * t[c[2] - lo] + w[3] * t[c[3] - lo];
        }
    } else {
        for (ow = 0; ow < out_w; ++ow) {
            float acc = ww[ow * tw] * t[iw[ow * tw] - lo];
            for (b = 1; b < tw; ++b) {
                acc += ww[ow * tw + b] * t[iw[ow * tw + b] - lo];
            }
            y[ow] = acc;
        }
    }
}

/* [*a, *b): the longest run of two-tap output columns, an even count of them, taken as pairs (a + 2k,
 * a + 2k + 1) that read the columns of pair 0 shifted by k with pair 0's weights: a resize to twice the width,
 * away from the edges. Empty (a == b) when there is none. */
static void find_pair_run(const int64_t *iw, const float *ww, int64_t out_w, int64_t *a, int64_t *b)
{
    int64_t s, e;
    *a = *b = 0;
    for (s = 0; s + 4 <= out_w; s = e > s + 2 ? e : s + 1) { /* past a run, or on by one column */
        const int64_t *c0 = iw + 2 * s;
        const float *w0 = ww + 2 * s;
        int64_t k;
        for (k = 1; s + 2 * k + 2 <= out_w; ++k) {
            const int64_t *ck = c0 + 4 * k;
            const float *wk = w0 + 4 * k;
            int j;
            int same = 1;
            for (j = 0; j < 4; ++j) {
                same &= ck[j] == c0[j] + k && wk[j] == w0[j];
            }
            if (!same) {
                break;
            }
        }
        e = s + 2 * k;
        if (e - s > *b - *a) {
            *a = s;
            *b = e;
        }
        if (e - s >= out_w / 2) {
            break;
        }
    }
}

/* y[ow] for ow in [a, b) (a find_pair_run run): pairs of outputs from two shifted streams of t, so the loop
 * reads t in order and vectorizes; the same products and sums as blend_columns */
static void blend_pairs(const float *t, int64_t lo, const int64_t *iw, const float *ww, float *y, int64_t a, int64_t b)
{
    const float *t0 = t + iw[2 * a] - lo, *t1 = t + iw[2 * a + 1] - lo;
    const float *t2 = t + iw[2 * a + 2] - lo, *t3 = t + iw[2 * a + 3] - lo;
    const float w0 = ww[2 * a], w1 = ww[2 * a + 1], w2 = ww[2 * a + 2], w3 = ww[2 * a + 3];
    float *ya = y + a;
    int64_t k, n = (b - a) / 2;
    for (k = 0; k < n; ++k) {
        ya[2 * k] = w0 * t0[k] + w1 * t1[k];
        ya[2 * k + 1] = w2 * t2[k] + w3 * t3[k];
    }
}

/* output columns [0, out_w) of one row straight from the input (a chunk reading more than EP_RESIZE_ROW
 * input columns) */
static void blend_direct(const float *xp, int64_t in_w, int32_t th, const int64_t *rows, const float *rw, int32_t tw,
                         const int64_t *iw, const float *ww, float *y, int64_t out_w)
{
    int64_t ow;
    int32_t a, b;
    for (ow = 0; ow < out_w; ++ow) {
        const int64_t *cols = iw + ow * tw;
        const float *cw = ww + ow * tw;
        float acc = 0.0f;
        for (b = 0; b < tw; ++b) {
            float t = rw[0] * xp[rows[0] * in_w + cols[b]];
            for (a = 1; a < th; ++a) {
                t += rw[a] * xp[rows[a] * in_w + cols[b]];
            }
            acc = b == 0 ? cw[0] * t : acc + cw[b] * t;
        }
        y[ow] = acc;
    }
}

/* one output row of an input wider than EP_RESIZE_ROW: chunks of EP_RESIZE_CHUNK output columns, each
 * blending the input columns it reads into `t` (chunks halved until they fit) */
static void wide_row(const float *xp, int64_t in_w, int32_t th, const int64_t *rows, const float *rw, int32_t tw,
                     const int64_t *iw, const float *ww, float *y, int64_t out_w, float *t)
{
    int64_t o0, k, n, lo, hi, span = EP_RESIZE_CHUNK;
    for (o0 = 0; o0 < out_w; o0 += n) {
        const int64_t *cols = iw + o0 * tw;
        n = out_w - o0 < span ? out_w - o0 : span;
        for (;;) { /* halve the chunk until the input columns it reads fit in `t` (or it is one column) */
            lo = cols[0];
            hi = cols[0];
            for (k = 1; k < n * tw; ++k) {
                lo = cols[k] < lo ? cols[k] : lo;
                hi = cols[k] > hi ? cols[k] : hi;
            }
            if (hi - lo < EP_RESIZE_ROW || n == 1) {
                break;
            }
            n /= 2;
            span = n;
        }
        if (hi - lo < EP_RESIZE_ROW) {
            blend_rows(xp, in_w, lo, hi - lo + 1, th, rows, rw, t);
            blend_columns(t, lo, tw, cols, ww + o0 * tw, y + o0, n);
        } else {
            blend_direct(xp, in_w, th, rows, rw, tw, cols, ww + o0 * tw, y + o0, n);
        }
    }
}

int ep_resize(const ep_tensor *x, ep_tensor *y, int32_t th, const int64_t *ih, const float *wh, int32_t tw,
              const int64_t *iw, const float *ww)
{
    float row[EP_RESIZE_ROW];
    const float *px;
    float *py;
    int64_t in_h, in_w, out_h, out_w, planes, p, oh, pa = 0, pb = 0;
    int32_t r, d;
    int nearest, doubled;
    int rc = ep_check(x);
    if (rc == EP_OK) {
        rc = ep_check(y);
    }
    if (rc != EP_OK) {
        return rc;
    }
    if (th < 1 || tw < 1 || ih == NULL || wh == NULL || iw == NULL || ww == NULL) {
        return EP_ERR_ARG;
    }
    r = x->rank;
    if (r < 2 || y->rank != r) {
        return EP_ERR_SHAPE;
    }
    for (d = 0; d < r - 2; ++d) {
        if (y->dims[d] != x->dims[d]) {
            return EP_ERR_SHAPE;
        }
    }
    in_h = x->dims[r - 2];
    in_w = x->dims[r - 1];
    out_h = y->dims[r - 2];
    out_w = y->dims[r - 1];
    if (ep_numel(y) == 0) {
        return EP_OK;
    }
    if (!indices_inside(ih, out_h * th, in_h) || !indices_inside(iw, out_w * tw, in_w)) {
        return EP_ERR_SHAPE;
    }
    planes = ep_numel(y) / (out_h * out_w);
    px = (const float *)x->data;
    py = (float *)y->data;
    /* every weight 1 with one tap: y = 1 * (1 * x) is x itself, so a gather (and a row copy) */
    nearest = th == 1 && tw == 1 && all_ones(wh, out_h) && all_ones(ww, out_w);
    doubled = nearest && doubles_columns(iw, out_w);
    if (tw == 2 && in_w <= EP_RESIZE_ROW) {
        find_pair_run(iw, ww, out_w, &pa, &pb);
    }
    for (p = 0; p < planes; ++p) {
        const float *xp = px + p * in_h * in_w;
        float *yp = py + p * out_h * out_w;
        if (nearest) {
            nearest_plane(xp, yp, in_w, out_h, out_w, ih, iw, doubled);
            continue;
        }
        for (oh = 0; oh < out_h; ++oh) {
            const int64_t *rows = ih + oh * th;
            const float *rw = wh + oh * th;
            if (in_w <= EP_RESIZE_ROW && pb > pa) { /* the run of pairs, and the edges around it */
                float *yr = yp + oh * out_w;
                blend_rows(xp, in_w, 0, in_w, th, rows, rw, row);
                blend_columns(row, 0, tw, iw, ww, yr, pa);
                blend_pairs(row, 0, iw, ww, yr, pa, pb);
                blend_columns(row, 0, tw, iw + 2 * pb, ww + 2 * pb, yr + pb, out_w - pb);
            } else if (in_w <= EP_RESIZE_ROW) {
                blend_rows(xp, in_w, 0, in_w, th, rows, rw, row);
                blend_columns(row, 0, tw, iw, ww, yp + oh * out_w, out_w);
            } else {
                wide_row(xp, in_w, th, rows, rw, tw, iw, ww, yp + oh * out_w, out_w, row);
            }
        }
    }
    return EP_OK;
}
