/* resize.c: default ONNX Resize kernel (nearest, linear and cubic from the caller's tap tables).
 *
 * Rows first, as resize.h states: each output row blends its th input rows into a stack row of at most
 * EP_RESIZE_ROW floats (one contiguous loop the compiler vectorizes), then each output element blends
 * tw elements of that row. Rows of a wider input blend per output element, in the same order, so both
 * give the same results. Nearest (every weight 1) gathers each output row from its input row and copies
 * an output row whose input row is the previous one's. */
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

static void nearest_plane(const float *xp, float *yp, int64_t in_w, int64_t out_h, int64_t out_w,
                          const int64_t *ih, const int64_t *iw)
{
    int64_t oh;
    for (oh = 0; oh < out_h; ++oh) {
        float *row = yp + oh * out_w;
        if (oh > 0 && ih[oh] == ih[oh - 1]) {
            memcpy(row, row - out_w, (size_t)out_w * sizeof(float));
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
    int64_t in_h, in_w, out_h, out_w, planes, p, oh;
    int32_t r, d;
    int nearest;
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
    for (p = 0; p < planes; ++p) {
        const float *xp = px + p * in_h * in_w;
        float *yp = py + p * out_h * out_w;
        if (nearest) {
            nearest_plane(xp, yp, in_w, out_h, out_w, ih, iw);
            continue;
        }
        for (oh = 0; oh < out_h; ++oh) {
            const int64_t *rows = ih + oh * th;
            const float *rw = wh + oh * th;
            if (in_w <= EP_RESIZE_ROW) {
                blend_rows(xp, in_w, 0, in_w, th, rows, rw, row);
                blend_columns(row, 0, tw, iw, ww, yp + oh * out_w, out_w);
            } else {
                wide_row(xp, in_w, th, rows, rw, tw, iw, ww, yp + oh * out_w, out_w, row);
            }
        }
    }
    return EP_OK;
}
