/* ep_depthwise.c: depthwise Conv (see ep_depthwise.h), by one of two paths.
 *
 * The lane path (narrow maps): for each block of EP_DW_LANES output channels and block of output rows,
 * the padded input rows the block reads are copied, interleaved, into scratch (zero where they fall in
 * the padding), then each output row is computed four pixels at a time, every tap one multiply-add of
 * EP_DW_LANES lanes, and written back channel by channel. The lane loops are plain C99 that the
 * compiler turns into vector instructions.
 *
 * The row path (wider maps, undilated 3x3 kernels at column stride 1 or 2, 5x5 at 2): one channel at a
 * time, from one zero-padded copy of its input plane, each output row computed straight into y with
 * all its taps in one pass, vectorized along the row.
 *
 * Both give the common kernels copies with constant extents, so that the taps are unrolled, and both
 * leave the bias and activation to the caller's `done`, called on each block of outputs while it is in
 * cache. */
#include <string.h>

#include "ep_depthwise.h"

#define L EP_DW_LANES

/* The lane path is taken for at least EP_DW_MIN_CHANNELS output channels, at most EP_DW_MAX_TAPS
 * taps, a window at most EP_DW_MAX_SPAN pixels tall and wide (the scratch stays small) and outputs at
 * most so wide (measured, x86-64 with AVX-512):
 *   - kernels the row path takes: EP_DW_ROWS_3X3_S1_WIDTH for 3x3 at column stride 1,
 *     EP_DW_ROWS_3X3_S2_WIDTH at 2, EP_DW_ROWS_5X5_S2_WIDTH for 5x5 at 2 (beyond, the row path's rows
 *     fill its vectors and it interleaves nothing);
 *   - others (conv.c's plane loop beside it): EP_DW_MAX_WIDTH, twice that with a column stride above 1
 *     or EP_DW_MANY_TAPS taps and more, three times with both.
 * A block of rows is about EP_DW_BLOCK_FLOATS floats of scratch (kept in the first levels of cache)
 * but at least one output row. */
#define EP_DW_MIN_CHANNELS 8
#define EP_DW_ROWS_3X3_S1_WIDTH 16
#define EP_DW_ROWS_3X3_S2_WIDTH 8
#define EP_DW_ROWS_5X5_S2_WIDTH 32
#define EP_DW_MAX_WIDTH 16
#define EP_DW_MANY_TAPS 25
#define EP_DW_MAX_TAPS 64
#define EP_DW_MAX_SPAN 64
#define EP_DW_BLOCK_FLOATS 12288

/* the paths */
#define PATH_NONE 0
#define PATH_LANES 1
#define PATH_ROWS 2

/* the padded width a row of windows reads */
static int64_t padded_width(int64_t ow, const ep_conv_params *p)
{
    return (ow - 1) * p->strides[1] + (p->kernel[1] - 1) * p->dilations[1] + 1;
}

/* padded rows the output rows [0, rows) read */
static int64_t rows_span(int64_t rows, const ep_conv_params *p)
{
    return (rows - 1) * p->strides[0] + (p->kernel[0] - 1) * p->dilations[0] + 1;
}

/* the row path takes undilated 3x3 kernels at column stride 1 or 2 and 5x5 ones at 2 (at 1, where its
 * one pass holds 25 weights, conv.c's plane loop is as fast, measured) */
static int rows_kernel(const ep_conv_params *p)
{
    int64_t k = p->kernel[0], sw = p->strides[1];
    return p->kernel[1] == k && p->dilations[0] == 1 && p->dilations[1] == 1 &&
           ((k == 3 && (sw == 1 || sw == 2)) || (k == 5 && sw == 2));
}

static int choose_path(int64_t m, int64_t oh, int64_t ow, const ep_conv_params *p)
{
    int64_t taps = p->kernel[0] * p->kernel[1], width;
    int rows = rows_kernel(p);
    if (oh < 1 || ow < 1) {
        return PATH_NONE;
    }
    if (rows && p->kernel[0] == 5) {
        width = EP_DW_ROWS_5X5_S2_WIDTH;
    } else if (rows) {
        width = p->strides[1] == 1 ? EP_DW_ROWS_3X3_S1_WIDTH : EP_DW_ROWS_3X3_S2_WIDTH;
    } else {
        width = EP_DW_MAX_WIDTH * (1 + (p->strides[1] > 1) + (taps >= EP_DW_MANY_TAPS));
    }
    if (m >= EP_DW_MIN_CHANNELS && ow <= width && taps <= EP_DW_MAX_TAPS &&
        (p->kernel[0] - 1) * p->dilations[0] + 1 <= EP_DW_MAX_SPAN &&
        (p->kernel[1] - 1) * p->dilations[1] + 1 <= EP_DW_MAX_SPAN) {
        return PATH_LANES;
    }
    return rows ? PATH_ROWS : PATH_NONE;
}

int ep_depthwise_ok(int64_t m, int64_t oh, int64_t ow, const ep_conv_params *p)
{
    return choose_path(m, oh, ow, p) != PATH_NONE;
}

/* output rows per block of the lane path (lowering.py's depthwise_scratch mirrors this) */
static int64_t block_rows(int64_t oh, int64_t ow, const ep_conv_params *p)
{
    int64_t fit = EP_DW_BLOCK_FLOATS / (padded_width(ow, p) * L), window = rows_span(1, p), rows = 1;
    if (fit > window) {
        rows = (fit - window) / p->strides[0] + 1;
    }
    return rows > oh ? oh : rows;
}

int64_t ep_depthwise_scratch_size(int64_t m, int64_t oh, int64_t ow, const ep_conv_params *p)
{
    int path = choose_path(m, oh, ow, p);
    if (path == PATH_LANES) { /* a block of interleaved rows, the block's weights, an output row */
        int64_t rows = block_rows(oh, ow, p);
        return (rows_span(rows, p) * padded_width(ow, p) + p->kernel[0] * p->kernel[1] + ow) * L;
    }
    return path == PATH_ROWS ? rows_span(oh, p) * padded_width(ow, p) : 0; /* one padded plane */
}

/* The lane path's kernels: acc (ow x lanes) = the taps of one output row; `top` is the scratch row its
 * windows start on (rows `rowf` floats apart), wt the taps' weights (taps x lanes). Written once as a
 * macro so the common kernels get copies with constant extents (their parameters then go unused). */
#define EP_DW_ROW(NAME, KH, KW, S, DH, DW)                                                                   \
    static void NAME(float *acc, const float *top, int64_t rowf, const float *wt, int64_t kh, int64_t kw,    \
                     int64_t s, int64_t dh, int64_t dw, int64_t ow)                                          \
    {                                                                                                        \
        int64_t ox = 0, ky, kx;                                                                              \
        int l;                                                                                               \
        (void)kh;                                                                                            \
        (void)kw;                                                                                            \
        (void)s;                                                                                             \
        (void)dh;                                                                                            \
        (void)dw;                                                                                            \
        for (; ox + 4 <= ow; ox += 4) {                                                                      \
            float a0[L], a1[L], a2[L], a3[L];                                                                \
            for (l = 0; l < L; ++l) { /* -0 + v is v for every v, -0 included */                            \
                a0[l] = a1[l] = a2[l] = a3[l] = -0.0f;                                                       \
            }                                                                                                \
            for (ky = 0; ky < (KH); ++ky) {                                                                  \
                for (kx = 0; kx < (KW); ++kx) {                                                              \
                    const float *wv = wt + (ky * (KW) + kx) * L;                                             \
                    const float *q = top + ky * (DH) * rowf + (ox * (S) + kx * (DW)) * L;                    \
                    for (l = 0; l < L; ++l) {                                                                \
                        a0[l] += wv[l] * q[l];                                                               \
                        a1[l] += wv[l] * q[(S) * L + l];                                                     \
                        a2[l] += wv[l] * q[2 * (S) * L + l];                                                 \
                        a3[l] += wv[l] * q[3 * (S) * L + l];                                                 \
                    }                                                                                        \
                }                                                                                            \
            }                                                                                                \
            for (l = 0; l < L; ++l) {                                                                        \
                acc[ox * L + l] = a0[l];                                                                     \
                acc[(ox + 1) * L + l] = a1[l];                                                               \
                acc[(ox + 2) * L + l] = a2[l];                                                               \
                acc[(ox + 3) * L + l] = a3[l];                                                               \
            }                                                                                                \
        }                                                                                                    \
        for (; ox < ow; ++ox) {                                                                              \
            float a0[L];                                                                                     \
            for (l = 0; l < L; ++l) {                                                                        \
                a0[l] = -0.0f;                                                                               \
            }                                                                                                \
            for (ky = 0; ky < (KH); ++ky) {                                                                  \
                for (kx = 0; kx < (KW); ++kx) {                                                              \
                    const float *wv = wt + (ky * (KW) + kx) * L;                                             \
                    const float *q = top + ky * (DH) * rowf + (ox * (S) + kx * (DW)) * L;                    \
                    for (l = 0; l < L; ++l) {                                                                \
                        a0[l] += wv[l] * q[l];                                                               \
                    }                                                                                        \
                }                                                                                            \
            }                                                                                                \
            for (l = 0; l < L; ++l) {                                                                        \
                acc[ox * L + l] = a0[l];                                                                     \
            }                                                                                                \
        }                                                                                                    \
    }

EP_DW_ROW(row_3x3_s1, 3, 3, 1, 1, 1)
EP_DW_ROW(row_3x3_s2, 3, 3, 2, 1, 1)
EP_DW_ROW(row_5x5_s1, 5, 5, 1, 1, 1)
EP_DW_ROW(row_5x5_s2, 5, 5, 2, 1, 1)
EP_DW_ROW(row_any, kh, kw, s, dh, dw)
#undef EP_DW_ROW

typedef void (*row_kernel)(float *acc, const float *top, int64_t rowf, const float *wt, int64_t kh, int64_t kw,
                           int64_t s, int64_t dh, int64_t dw, int64_t ow);

static row_kernel pick_row(const ep_conv_params *p)
{
    int64_t kh = p->kernel[0], kw = p->kernel[1], s = p->strides[1];
    if (p->dilations[0] == 1 && p->dilations[1] == 1 && kh == kw && (s == 1 || s == 2)) {
        if (kh == 3) {
            return s == 1 ? row_3x3_s1 : row_3x3_s2;
        }
        if (kh == 5) {
            return s == 1 ? row_5x5_s1 : row_5x5_s2;
        }
    }
    return row_any;
}

/* What pack_rows reads: the input, its channels, the channel multiplier, the input extents, the padded
 * width, the top and left pads. */
typedef struct dw_job {
    const float *x;
    int64_t c, mg, ih, iw, wp, pt, pl;
} dw_job;

/* Scratch rows [0, r1 - r0) = padded rows [r0, r1) of the input channels of output channels
 * [o0, o0 + nl) of image b, interleaved; lanes nl and above zero. */
static void pack_rows(const dw_job *j, int64_t b, int64_t o0, int64_t nl, int64_t r0, int64_t r1, float *dst)
{
    int64_t wp = j->wp, x0 = j->pl < wp ? j->pl : wp, x1 = j->pl + j->iw < wp ? j->pl + j->iw : wp, r, x;
    const float *src[L];
    int l;
    for (l = 0; l < L; ++l) { /* lanes past nl read channel o0's rows and are zeroed below */
        src[l] = j->x + (b * j->c + (o0 + (l < nl ? l : 0)) / j->mg) * j->ih * j->iw - j->pl;
    }
    for (r = r0; r < r1; ++r, dst += wp * L) {
        int64_t iy = r - j->pt;
        if (iy < 0 || iy >= j->ih || x1 <= x0) {
            memset(dst, 0, (size_t)(wp * L) * sizeof(float));
            continue;
        }
        memset(dst, 0, (size_t)(x0 * L) * sizeof(float));
        for (x = x0; x < x1; ++x) {
            float *d = dst + x * L;
            int64_t at = iy * j->iw + x;
            for (l = 0; l < L; ++l) {
                d[l] = src[l][at];
            }
        }
        memset(dst + x1 * L, 0, (size_t)((wp - x1) * L) * sizeof(float));
        if (nl < L) {
            for (x = x0; x < x1; ++x) {
                for (l = (int)nl; l < L; ++l) {
                    dst[x * L + l] = 0.0f;
                }
            }
        }
    }
}

static void lanes_path(const float *x, const float *w, float *y, int64_t n, int64_t c, int64_t m, int64_t ih,
                       int64_t iw, int64_t oh, int64_t ow, const ep_conv_params *p, float *scratch,
                       ep_depthwise_done done, void *ctx)
{
    int64_t taps = p->kernel[0] * p->kernel[1], rows = block_rows(oh, ow, p), blocks = (m + L - 1) / L;
    int64_t plane = oh * ow, b, cb, r0, t, ox;
    float *planes = scratch, *wt, *acc;
    row_kernel row = pick_row(p);
    dw_job j;
    j.x = x;
    j.c = c;
    j.mg = m / c;
    j.ih = ih;
    j.iw = iw;
    j.wp = padded_width(ow, p);
    j.pt = p->pads[0];
    j.pl = p->pads[1];
    wt = planes + rows_span(rows, p) * j.wp * L;
    acc = wt + taps * L;
    for (cb = 0; cb < blocks; ++cb) {
        /* the last block of a channel count that is not a multiple of the lanes: the last L channels
         * when there are that many, of which it writes the ones no other block did (lanes lf and up);
         * else a partial block, its spare lanes zero */
        int64_t o0 = cb * L, lf = 0, nl;
        int l;
        if (o0 + L > m && m >= L) {
            lf = o0 - (m - L);
            o0 = m - L;
        }
        nl = m - o0 < L ? m - o0 : L;
        for (t = 0; t < taps; ++t) {
            for (l = 0; l < L; ++l) {
                wt[t * L + l] = l < nl ? w[(o0 + l) * taps + t] : 0.0f;
            }
        }
        for (b = 0; b < n; ++b) {
            float *yb = y + (b * m + o0) * plane;
            for (r0 = 0; r0 < oh; r0 += rows) {
                int64_t r1 = r0 + rows < oh ? r0 + rows : oh, p0 = r0 * p->strides[0], oy;
                pack_rows(&j, b, o0, nl, p0, (r1 - 1) * p->strides[0] + rows_span(1, p), planes);
                for (oy = r0; oy < r1; ++oy) {
                    row(acc, planes + (oy * p->strides[0] - p0) * j.wp * L, j.wp * L, wt, p->kernel[0],
                        p->kernel[1], p->strides[1], p->dilations[0], p->dilations[1], ow);
                    for (l = (int)lf; l < nl; ++l) {
                        float *out = yb + l * plane + oy * ow;
                        for (ox = 0; ox < ow; ++ox) {
                            out[ox] = acc[ox * L + l];
                        }
                    }
                }
                for (l = (int)lf; l < nl; ++l) {
                    done(ctx, yb + l * plane + r0 * ow, (r1 - r0) * ow, o0 + l);
                }
            }
        }
    }
}

/* The row path's kernels: output row y (ow) of a K x K kernel at column stride S, all taps in one pass
 * over the K padded rows from `top` on (wp floats apart). */
#define EP_DW_KXK(NAME, K, S)                                                                                \
    static void NAME(float *y, const float *top, int64_t wp, const float *wk, int64_t ow)                    \
    {                                                                                                        \
        float w[(K) * (K)];                                                                                  \
        int64_t ox;                                                                                          \
        int t, ky, kx;                                                                                       \
        for (t = 0; t < (K) * (K); ++t) {                                                                    \
            w[t] = wk[t];                                                                                    \
        }                                                                                                    \
        for (ox = 0; ox < ow; ++ox) { /* a sum per kernel row: K short dependency chains, not one long */   \
            float part[K], v;                                                                                \
            for (ky = 0; ky < (K); ++ky) {                                                                   \
                part[ky] = -0.0f;                                                                            \
                for (kx = 0; kx < (K); ++kx) {                                                               \
                    part[ky] += w[ky * (K) + kx] * top[ky * wp + ox * (S) + kx];                             \
                }                                                                                            \
            }                                                                                                \
            v = part[0];                                                                                     \
            for (ky = 1; ky < (K); ++ky) {                                                                   \
                v += part[ky];                                                                               \
            }                                                                                                \
            y[ox] = v;                                                                                       \
        }                                                                                                    \
    }

EP_DW_KXK(kxk_3_s1, 3, 1)
EP_DW_KXK(kxk_3_s2, 3, 2)
EP_DW_KXK(kxk_5_s2, 5, 2)
#undef EP_DW_KXK

typedef void (*kxk_kernel)(float *y, const float *top, int64_t wp, const float *wk, int64_t ow);

/* outputs per call of `done` on the row path: about this many, whole rows */
#define EP_DW_DONE_FLOATS 2048

static void rows_path(const float *x, const float *w, float *y, int64_t n, int64_t c, int64_t m, int64_t ih,
                      int64_t iw, int64_t oh, int64_t ow, const ep_conv_params *p, float *plane,
                      ep_depthwise_done done, void *ctx)
{
    int64_t hp = rows_span(oh, p), wp = padded_width(ow, p), mg = m / c, taps = p->kernel[0] * p->kernel[1];
    int64_t pt = p->pads[0], pl = p->pads[1], sh = p->strides[0];
    int64_t r_end = pt + ih < hp ? pt + ih : hp, cols = pl + iw < wp ? iw : wp - pl;
    int64_t step = EP_DW_DONE_FLOATS / ow > 1 ? EP_DW_DONE_FLOATS / ow : 1;
    int64_t b, ci, i, r, oy, oy0;
    kxk_kernel row;
    if (p->kernel[0] == 3) {
        row = p->strides[1] == 1 ? kxk_3_s1 : kxk_3_s2;
    } else {
        row = kxk_5_s2;
    }
    /* the pads: zeroed once, every channel's pixels land in the same places */
    memset(plane, 0, (size_t)(hp * wp) * sizeof(float));
    for (b = 0; b < n; ++b) {
        for (ci = 0; ci < c; ++ci) {
            const float *xp = x + (b * c + ci) * ih * iw;
            for (r = pt; r < r_end && cols > 0; ++r) {
                memcpy(plane + r * wp + pl, xp + (r - pt) * iw, (size_t)cols * sizeof(float));
            }
            for (i = 0; i < mg; ++i) {
                int64_t o = ci * mg + i;
                float *yp = y + (b * m + o) * oh * ow;
                for (oy0 = 0; oy0 < oh; oy0 += step) {
                    int64_t oy1 = oy0 + step < oh ? oy0 + step : oh;
                    for (oy = oy0; oy < oy1; ++oy) {
                        row(yp + oy * ow, plane + oy * sh * wp, wp, w + o * taps, ow);
                    }
                    done(ctx, yp + oy0 * ow, (oy1 - oy0) * ow, o);
                }
            }
        }
    }
}

void ep_depthwise(const float *x, const float *w, float *y, int64_t n, int64_t c, int64_t m, int64_t ih, int64_t iw,
                  int64_t oh, int64_t ow, const ep_conv_params *p, float *scratch, ep_depthwise_done done, void *ctx)
{
    int path = choose_path(m, oh, ow, p);
    if (path == PATH_LANES) {
        lanes_path(x, w, y, n, c, m, ih, iw, oh, ow, p, scratch, done, ctx);
    } else if (path == PATH_ROWS) {
        rows_path(x, w, y, n, c, m, ih, iw, oh, ow, p, scratch, done, ctx);
    }
}
