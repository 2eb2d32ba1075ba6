/* ep_layer.c: what the layer operators share (see ep_layer.h). */
#include <math.h>

#include "ep_layer.h"
#include "ep_window.h"

int ep_check_operands(const ep_tensor *a, const ep_tensor *b, const ep_tensor *y, const ep_tensor *optional)
{
    int rc = ep_check(a);
    if (rc == EP_OK) {
        rc = ep_check(b);
    }
    if (rc == EP_OK) {
        rc = ep_check(y);
    }
    if (rc == EP_OK && optional) {
        rc = ep_check(optional);
    }
    return rc;
}

int ep_pool_check(const ep_tensor *x, const ep_tensor *y, const ep_pool_params *p, ep_pool_extents *e)
{
    int rc = ep_check(x);
    if (rc == EP_OK) {
        rc = ep_check(y);
    }
    if (rc == EP_OK && (p == NULL || e == NULL)) {
        rc = EP_ERR_ARG;
    }
    if (rc == EP_OK) {
        rc = ep_window_check(x, y, p->kernel, p->strides, p->pads, p->dilations, 1);
    }
    if (rc == EP_OK && y->dims[1] != x->dims[1]) {
        rc = EP_ERR_SHAPE;
    }
    if (rc == EP_OK) {
        e->planes = x->dims[0] * x->dims[1];
        ep_window_spatial(x, &e->ih, &e->iw);
        ep_window_spatial(y, &e->oh, &e->ow);
    }
    return rc;
}

void ep_window_taps(int64_t start, int64_t taps, int64_t step, int64_t n, int64_t *first, int64_t *end)
{
    int64_t lo = 0, hi = taps;
    if (start < 0) {
        lo = (-start + step - 1) / step;
    }
    if (start + (taps - 1) * step > n - 1) {
        hi = n - 1 - start < 0 ? 0 : (n - 1 - start) / step + 1;
    }
    *first = lo < hi ? lo : hi;
    *end = hi;
}

/* the max of the window's taps inside x: rows [ky0, ky1) from input row y0, columns [kx0, kx1)
 * from input column x0 */
static float window_max(const float *xp, int64_t iw, const ep_pool_params *p, int64_t y0, int64_t x0, int64_t ky0,
                        int64_t ky1, int64_t kx0, int64_t kx1)
{
    float best = -INFINITY;
    int nan = 0;
    int64_t ki, kj;
    for (ki = ky0; ki < ky1; ++ki) {
        const float *row = xp + (y0 + ki * p->dilations[0]) * iw;
        for (kj = kx0; kj < kx1; ++kj) {
            float v = row[x0 + kj * p->dilations[1]];
            nan |= v != v;
            best = v > best ? v : best;
        }
    }
    return nan ? NAN : best;
}

static float window_sum(const float *xp, int64_t iw, const ep_pool_params *p, int64_t y0, int64_t x0, int64_t ky0,
                        int64_t ky1, int64_t kx0, int64_t kx1)
{
    float acc = 0.0f;
    int64_t ki, kj;
    for (ki = ky0; ki < ky1; ++ki) {
        const float *row = xp + (y0 + ki * p->dilations[0]) * iw;
        for (kj = kx0; kj < kx1; ++kj) {
            acc += row[x0 + kj * p->dilations[1]];
        }
    }
    return acc;
}

/* floats of the row maxima a separable MaxPool holds on the stack (2 KiB) */
#define EP_POOL_ROW 512

/* max that keeps NaN: m stays NaN once it is, and a NaN v replaces it (a select that vectorizes) */
#define EP_MAX_NAN(v, m) (((v) > (m) || (v) != (v)) ? (v) : (m))

/* t[c] = the max over input rows [r0, r1) of xp's column lo + c, c in [0, n) */
static void rows_max(const float *xp, int64_t iw, int64_t r0, int64_t r1, int64_t lo, int64_t n, float *t)
{
    int64_t r, c;
    const float *row = xp + r0 * iw + lo;
    for (c = 0; c < n; ++c) {
        t[c] = row[c];
    }
    for (r = r0 + 1; r < r1; ++r) {
        row = xp + r * iw + lo;
        for (c = 0; c < n; ++c) {
            t[c] = EP_MAX_NAN(row[c], t[c]);
        }
    }
}

/* the first output index ox >= 0 with ox * sw >= v (v may be negative) */
static int64_t first_at_least(int64_t v, int64_t sw)
{
    return v <= 0 ? 0 : (v + sw - 1) / sw;
}

/* y[ox] for ox in [o0, o1) from the row maxima t of input columns [lo, ...): the window of ox covers
 * columns ox * sw - pl + [0, kw), clipped to the input (an empty window is -inf, as window_max). One pass
 * per tap k over the outputs whose tap k lies inside the input, so edges need no loop of their own. */
static void columns_max(const float *t, int64_t lo, int64_t iw, int64_t kw, int64_t sw, int64_t pl, int64_t o0,
                        int64_t o1, float *y)
{
    int64_t ox, k;
    for (ox = o0; ox < o1; ++ox) {
        y[ox] = -INFINITY;
    }
    for (k = 0; k < kw; ++k) {
        /* [a, b): the outputs whose column ox * sw - pl + k lies in [0, iw) */
        int64_t a = first_at_least(pl - k, sw);
        int64_t b = first_at_least(iw + pl - k, sw);
        const float *tk;
        a = a < o0 ? o0 : a;
        b = b > o1 ? o1 : b;
        if (a >= b) {
            continue;
        }
        tk = t + (a * sw - pl + k - lo);
        for (ox = a; ox < b; ++ox) {
            float v = tk[(ox - a) * sw];
            y[ox] = EP_MAX_NAN(v, y[ox]);
        }
    }
}

/* MaxPool with dilations 1, separably: each output row takes the max of its window's input rows into a
 * stack row (unit-stride loops), then each output the max of its window's columns of that row; rows wider
 * than EP_POOL_ROW go in chunks of output columns */
static void pool_max_separable(const float *px, float *py, const ep_pool_params *p, const ep_pool_extents *e)
{
    float t[EP_POOL_ROW];
    const int64_t kh = p->kernel[0], kw = p->kernel[1], sh = p->strides[0], sw = p->strides[1];
    const int64_t pt = p->pads[0], pl = p->pads[1];
    const int64_t chunk = (EP_POOL_ROW - kw) / sw + 1; /* outputs whose windows span at most EP_POOL_ROW */
    int64_t c, oy, ox, o1, ky0, ky1, lo, hi;
    for (c = 0; c < e->planes; ++c) {
        const float *xp = px + c * e->ih * e->iw;
        float *yp = py + c * e->oh * e->ow;
        for (oy = 0; oy < e->oh; ++oy) {
            int64_t y0 = oy * sh - pt;
            float *yrow = yp + oy * e->ow;
            ep_window_taps(y0, kh, 1, e->ih, &ky0, &ky1);
            if (ky0 >= ky1) {
                for (ox = 0; ox < e->ow; ++ox) {
                    yrow[ox] = -INFINITY;
                }
                continue;
            }
            for (ox = 0; ox < e->ow; ox = o1) {
                o1 = e->ow - ox < chunk ? e->ow : ox + chunk;
                lo = ox * sw - pl;
                hi = (o1 - 1) * sw - pl + kw;
                lo = lo < 0 ? 0 : (lo > e->iw ? e->iw : lo);
                hi = hi > e->iw ? e->iw : (hi < lo ? lo : hi);
                if (hi > lo) {
                    rows_max(xp, e->iw, y0 + ky0, y0 + ky1, lo, hi - lo, t);
                }
                columns_max(t, lo, e->iw, kw, sw, pl, ox, o1, yrow);
            }
        }
    }
}

/* floats of each of the two frames the banded pools hold on the stack (2 x 8 KiB) */
#define EP_POOL_FRAME 2048

/* f (rows x fw) = input rows r0 .. r0 + rows - 1 of the plane xp (ih x iw), frame column fx holding input
 * column fx - pl; what lies outside the input is `fill` */
static void fill_frame(const float *xp, int64_t ih, int64_t iw, int64_t r0, int64_t rows, int64_t pl, int64_t fw,
                       float fill, float *f)
{
    int64_t i, c;
    int64_t c0 = pl < fw ? pl : fw;                          /* frame columns [c0, c1) read the input */
    int64_t c1 = pl + iw < fw ? pl + iw : fw;
    for (i = 0; i < rows; ++i) {
        float *fr = f + i * fw;
        int64_t r = r0 + i;
        if (r < 0 || r >= ih) {
            for (c = 0; c < fw; ++c) {
                fr[c] = fill;
            }
            continue;
        }
        for (c = 0; c < c0; ++c) {
            fr[c] = fill;
        }
        for (c = c0; c < c1; ++c) {
            fr[c] = xp[r * iw + c - pl];
        }
        for (c = c1 > c0 ? c1 : c0; c < fw; ++c) {
            fr[c] = fill;
        }
    }
}

/* dst[j] = max(src[j], src[j + s]) (NaN kept) for j in [0, len - s) */
static void max_pass(float *restrict dst, const float *restrict src, int64_t len, int64_t s)
{
    int64_t j;
    for (j = 0; j + s < len; ++j) {
        dst[j] = EP_MAX_NAN(src[j + s], src[j]);
    }
}

/* afterwards f[j] (f or g, which it returns) = the max of f[j], f[j + d], ..., f[j + (k - 1) d] as it was, for
 * j + (k - 1) d < len: windows of 2, 4, 8 ... taps from the ones half as long, the last from two overlapping
 * ones (about log2(k) passes instead of k) */
static float *max_window(float *f, float *g, int64_t len, int64_t d, int64_t k)
{
    int64_t w = 1;
    float *t;
    while (2 * w <= k) {
        max_pass(g, f, len, w * d);
        t = f;
        f = g;
        g = t;
        len -= w * d;
        w *= 2;
    }
    if (w < k) {
        max_pass(g, f, len, (k - w) * d);
        f = g;
    }
    return f;
}

/* dst[j] = src[j] + src[j + d] + ... + src[j + (k - 1) d] for j in [0, len - (k - 1) d) */
static void sum_window(float *restrict dst, const float *restrict src, int64_t len, int64_t d, int64_t k)
{
    int64_t j, t, n = len - (k - 1) * d;
    for (j = 0; j < n; ++j) {
        dst[j] = src[j];
    }
    for (t = 1; t < k; ++t) {
        const float *st = src + t * d;
        for (j = 0; j < n; ++j) {
            dst[j] += st[j];
        }
    }
}

/* MaxPool / AveragePool with dilations 1 by bands of output rows, whatever the plane's width: a band's
 * input rows go into a frame padded to whole windows (-inf or 0), the frame is reduced over kh rows and
 * then kw columns, each pass one loop over the whole frame (short rows vectorize as well as long ones),
 * and the outputs are picked from it. 0 (nothing done) when one frame cannot hold kh rows of the padded
 * width. Average divides by the taps inside x (or, with count_include_pad, inside the padded x). */
static int pool_banded(const float *px, float *py, const ep_pool_params *p, const ep_pool_extents *e, int mode)
{
    float f[EP_POOL_FRAME], g[EP_POOL_FRAME];
    const int64_t kh = p->kernel[0], kw = p->kernel[1], sh = p->strides[0], sw = p->strides[1];
    const int64_t pt = p->pads[0], pl = p->pads[1];
    const int64_t fw = (e->ow - 1) * sw + kw; /* frame columns: every window's */
    const float fill = mode == EP_POOL_MAX ? -INFINITY : 0.0f;
    int64_t band, c, oy0, oy, ox;
    if (fw > EP_POOL_FRAME / kh) {
        return 0;
    }
    band = (EP_POOL_FRAME / fw - kh) / sh + 1; /* output rows per band */
    for (c = 0; c < e->planes; ++c) {
        const float *xp = px + c * e->ih * e->iw;
        float *yp = py + c * e->oh * e->ow;
        for (oy0 = 0; oy0 < e->oh; oy0 += band) {
            int64_t nb = e->oh - oy0 < band ? e->oh - oy0 : band;
            int64_t rows = (nb - 1) * sh + kh, len = rows * fw;
            const float *r;
            fill_frame(xp, e->ih, e->iw, oy0 * sh - pt, rows, pl, fw, fill, f);
            if (mode == EP_POOL_MAX && sh == 1) {
                float *v = max_window(f, g, len, fw, kh);
                float *w = v == f ? g : f;
                r = max_window(v, w, len - (kh - 1) * fw, 1, kw);
            } else if (mode == EP_POOL_MAX) { /* strided rows: each output row's kh rows folded directly */
                int64_t b;
                for (b = 0; b < nb; ++b) {
                    rows_max(f, fw, b * sh, b * sh + kh, 0, fw, g + b * fw);
                }
                r = max_window(g, f, nb * fw, 1, kw);
            } else {
                sum_window(g, f, len, fw, kh);
                sum_window(f, g, len - (kh - 1) * fw, 1, kw);
                r = f;
            }
            for (oy = oy0; oy < oy0 + nb; ++oy) {
                const float *rr = r + (oy - oy0) * (mode == EP_POOL_MAX && sh > 1 ? 1 : sh) * fw;
                float *yrow = yp + oy * e->ow;
                if (mode == EP_POOL_MAX) {
                    for (ox = 0; ox < e->ow; ++ox) {
                        yrow[ox] = rr[ox * sw];
                    }
                } else {
                    int64_t y0 = oy * sh - pt, ky0, ky1, cy;
                    if (p->count_include_pad) {
                        ep_window_taps(y0 + pt, kh, 1, e->ih + pt + p->pads[2], &ky0, &ky1);
                    } else {
                        ep_window_taps(y0, kh, 1, e->ih, &ky0, &ky1);
                    }
                    cy = ky1 - ky0;
                    for (ox = 0; ox < e->ow; ++ox) {
                        int64_t x0 = ox * sw - pl, kx0, kx1, count;
                        if (p->count_include_pad) {
                            ep_window_taps(x0 + pl, kw, 1, e->iw + pl + p->pads[3], &kx0, &kx1);
                        } else {
                            ep_window_taps(x0, kw, 1, e->iw, &kx0, &kx1);
                        }
                        count = cy * (kx1 - kx0);
                        yrow[ox] = count ? rr[ox * sw] / (float)count : 0.0f;
                    }
                }
            }
        }
    }
    return 1;
}

int ep_pool(const ep_tensor *x, ep_tensor *y, const ep_pool_params *p, int mode)
{
    const float *px;
    float *py;
    int64_t c, oy, ox, ky0, ky1, kx0, kx1, py0, py1, px0, px1;
    ep_pool_extents e;
    int rc = ep_pool_check(x, y, p, &e);
    if (rc != EP_OK) {
        return rc;
    }
    if (mode != EP_POOL_MAX && mode != EP_POOL_AVERAGE) {
        return EP_ERR_ARG;
    }
    px = (const float *)x->data;
    py = (float *)y->data;
    /* banded: any average, and a max but on wide rows at a column stride (the separable walk reads those in
     * place, with no frame to fill) */
    if (p->dilations[0] == 1 && p->dilations[1] == 1 && (mode == EP_POOL_AVERAGE || p->strides[1] == 1 || e.ow < 48) &&
        pool_banded(px, py, p, &e, mode)) {
        return EP_OK;
    }
    if (mode == EP_POOL_MAX && p->dilations[0] == 1 && p->dilations[1] == 1 && p->kernel[1] <= EP_POOL_ROW) {
        pool_max_separable(px, py, p, &e);
        return EP_OK;
    }
    for (c = 0; c < e.planes; ++c) {
        const float *xp = px + c * e.ih * e.iw;
        float *yp = py + c * e.oh * e.ow;
        for (oy = 0; oy < e.oh; ++oy) {
            int64_t y0 = oy * p->strides[0] - p->pads[0];
            ep_window_taps(y0, p->kernel[0], p->dilations[0], e.ih, &ky0, &ky1);
            ep_window_taps(y0 + p->pads[0], p->kernel[0], p->dilations[0], e.ih + p->pads[0] + p->pads[2], &py0,
                           &py1);
            for (ox = 0; ox < e.ow; ++ox) {
                int64_t x0 = ox * p->strides[1] - p->pads[1], count;
                float sum;
                ep_window_taps(x0, p->kernel[1], p->dilations[1], e.iw, &kx0, &kx1);
                if (mode == EP_POOL_MAX) {
                    yp[oy * e.ow + ox] = window_max(xp, e.iw, p, y0, x0, ky0, ky1, kx0, kx1);
                    continue;
                }
                ep_window_taps(x0 + p->pads[1], p->kernel[1], p->dilations[1], e.iw + p->pads[1] + p->pads[3],
                               &px0, &px1);
                count = p->count_include_pad ? (py1 - py0) * (px1 - px0) : (ky1 - ky0) * (kx1 - kx0);
                sum = window_sum(xp, e.iw, p, y0, x0, ky0, ky1, kx0, kx1);
                yp[oy * e.ow + ox] = count ? sum / (float)count : 0.0f;
            }
        }
    }
    return EP_OK;
}
