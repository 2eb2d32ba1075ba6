/* 2-D max / average pooling and global pooling, NCHW float32.
 *
 * Like the convolution, each plane is first copied into a padded scratch plane (filled with -inf
 * for max, 0 for average) that covers every position a window reads, ceil_mode's extra positions
 * included. The window is separable: every padded row is pooled along x (kw taps), then those
 * rows along y (kh taps), whole-row passes without bounds checks. A NaN in a window gives NaN;
 * the copy notes whether a plane holds one, and only such planes pay for the NaN-aware max.
 */
#include <math.h>
#include <stdlib.h>

#include "ep_native.h"

/* acc[o] = op(acc[o], r[o * S]) for o < n: the three folds of pooling */
EP_INLINE void max_nan_pass(float *restrict acc, const float *restrict r, int64_t S, int64_t n) {
    for (int64_t o = 0; o < n; o++) {
        const float v = r[o * S];
        acc[o] = (v > acc[o] || v != v) ? v : acc[o];
    }
}

EP_INLINE void max_pass(float *restrict acc, const float *restrict r, int64_t S, int64_t n) {
    for (int64_t o = 0; o < n; o++) acc[o] = r[o * S] > acc[o] ? r[o * S] : acc[o];
}

EP_INLINE void add_pass(float *restrict acc, const float *restrict r, int64_t S, int64_t n) {
    for (int64_t o = 0; o < n; o++) acc[o] += r[o * S];
}

EP_INLINE void gather_pass(float *restrict acc, const float *restrict r, int64_t S, int64_t n) {
    for (int64_t o = 0; o < n; o++) acc[o] = r[o * S];
}

/* fold `taps` inputs r + t * step (t < taps), each read at stride S, into acc (n values);
 * kind 0: max, 1: NaN-propagating max, 2: sum. S is a constant 1 or 2 in the common loops. */
#define EP_FOLD(PASS, S)                                                                           \
    do {                                                                                           \
        gather_pass(acc, r, S, n);                                                                 \
        for (int64_t t = 1; t < taps; t++) PASS(acc, r + t * step, S, n);                          \
    } while (0)
#define EP_FOLD_STRIDES(PASS)                                                                      \
    do {                                                                                           \
        if (S == 1) EP_FOLD(PASS, 1);                                                              \
        else if (S == 2) EP_FOLD(PASS, 2);                                                         \
        else EP_FOLD(PASS, S);                                                                     \
    } while (0)

EP_INLINE void fold(float *restrict acc, const float *restrict r, int64_t taps, int64_t step, int64_t S, int64_t n,
                      int kind) {
    if (kind == 0) EP_FOLD_STRIDES(max_pass);
    else if (kind == 1) EP_FOLD_STRIDES(max_nan_pass);
    else EP_FOLD_STRIDES(add_pass);
}
#undef EP_FOLD_STRIDES
#undef EP_FOLD

/* number of taps k * d + o * s (k < ks) that fall in [lo, hi) */
static int64_t taps_inside(int64_t o, int64_t s, int64_t ks, int64_t d, int64_t lo, int64_t hi) {
    int64_t count = 0;
    for (int64_t k = 0; k < ks; k++) {
        const int64_t pos = o * s + k * d;
        count += pos >= lo && pos < hi;
    }
    return count;
}

typedef struct {
    const float *x;
    float *y;
    int64_t h, w, kh, kw, sh, sw, dh, dw, pt, pl, ho, wo, hp, wp;
    int mode;
    const float *cy, *cx; /* the average's divisors along y and x */
    int64_t planes, parts;
    int two_by_two; /* a 2x2 window at stride 2 inside the input: pool_2x2 */
} pool_job;

/* The common 2x2 stride-2 window with every tap inside the input (no pads, or ceil_mode rounding that
 * adds none): each output from its four inputs directly, without the padded copy and the two folds.
 * Same arithmetic as the folds: rows first, (x00 op x01) op (x10 op x11), then the mean's / 4. */
EP_INLINE void pool_2x2(const float *restrict src, float *restrict out, int64_t w, int64_t ho, int64_t wo,
                        int mode) {
    for (int64_t oy = 0; oy < ho; oy++) {
        const float *r0 = src + 2 * oy * w, *r1 = r0 + w;
        float *o = out + oy * wo;
        if (mode == EP_POOL_MAX) {
            for (int64_t ox = 0; ox < wo; ox++) {
                const float a0 = r0[2 * ox], a1 = r0[2 * ox + 1], b0 = r1[2 * ox], b1 = r1[2 * ox + 1];
                const float a = (a1 > a0 || a1 != a1) ? a1 : a0; /* a NaN tap gives NaN, as the folds do */
                const float b = (b1 > b0 || b1 != b1) ? b1 : b0;
                o[ox] = (b > a || b != b) ? b : a;
            }
        } else {
            for (int64_t ox = 0; ox < wo; ox++)
                o[ox] = ((r0[2 * ox] + r0[2 * ox + 1]) + (r1[2 * ox] + r1[2 * ox + 1])) / 4.0f;
        }
    }
}

/* planes [p0, p1) of one part, with its own scratch */
EP_DISPATCH
static int pool_part(void *ctx, int64_t part) {
    const pool_job *j = (const pool_job *)ctx;
    const int64_t h = j->h, w = j->w, kh = j->kh, kw = j->kw, sh = j->sh, sw = j->sw, dh = j->dh, dw = j->dw;
    const int64_t pt = j->pt, pl = j->pl, ho = j->ho, wo = j->wo, hp = j->hp, wp = j->wp;
    const int mode = j->mode;
    int64_t p0, p1;
    ep_part_range(j->planes, j->parts, part, 1, &p0, &p1);
    if (p0 >= p1) return 0;
    if (j->two_by_two) {
        for (int64_t pi = p0; pi < p1; pi++) pool_2x2(j->x + pi * h * w, j->y + pi * ho * wo, w, ho, wo, mode);
        return 0;
    }
    /* the padded plane, the plane pooled along rows (hp x wp at most), the wide output of stride 1 (ho x wp) */
    const int unit = sh == 1 && sw == 1;
    float *scratch = (float *)malloc((size_t)(2 * hp * wp + (unit ? ho * wp : 0)) * sizeof(float));
    if (!scratch) return -1;
    float *rows = scratch + hp * wp, *wide = rows + hp * wp;
    const float fill = mode == EP_POOL_MAX ? -INFINITY : 0.0f;
    const int64_t y0 = pt, y1 = pt + h < hp ? pt + h : hp, x0 = pl, x1 = pl + w < wp ? pl + w : wp;
    for (int64_t pi = p0; pi < p1; pi++) {
        const float *src = j->x + pi * h * w;
        int nan = 0;
        for (int64_t r = 0; r < hp; r++) {
            float *row = scratch + r * wp;
            if (r < y0 || r >= y1 || x1 <= x0) {
                for (int64_t i = 0; i < wp; i++) row[i] = fill;
                continue;
            }
            const float *in = src + (r - pt) * w - x0;
            for (int64_t i = 0; i < x0; i++) row[i] = fill;
            for (int64_t i = x0; i < x1; i++) {
                row[i] = in[i];
                nan |= in[i] != in[i];
            }
            for (int64_t i = x1; i < wp; i++) row[i] = fill;
        }
        /* separable: each padded row pooled along x, then those rows pooled along y */
        const int kind = mode != EP_POOL_MAX ? 2 : nan ? 1 : 0;
        float *out = j->y + pi * ho * wo;
        if (unit) {
            /* stride 1: both passes as one long row each over the padded width (columns past wo
             * mix neighbouring rows and are discarded), then the output rows copied out */
            fold(rows, scratch, kw, dw, 1, hp * wp - (kw - 1) * dw, kind);
            fold(wide, rows, kh, dh * wp, 1, (ho - 1) * wp + wo, kind);
            for (int64_t oy = 0; oy < ho; oy++) memcpy(out + oy * wo, wide + oy * wp, (size_t)wo * sizeof(float));
        } else {
            for (int64_t r = 0; r < hp; r++) fold(rows + r * wo, scratch + r * wp, kw, dw, sw, wo, kind);
            for (int64_t oy = 0; oy < ho; oy++) fold(out + oy * wo, rows + oy * sh * wo, kh, dh * wo, 1, wo, kind);
        }
        if (mode != EP_POOL_MAX) {
            for (int64_t oy = 0; oy < ho; oy++) {
                float *acc = out + oy * wo;
                const float ry = j->cy[oy];
                for (int64_t ox = 0; ox < wo; ox++) {
                    const float cnt = ry * j->cx[ox];
                    acc[ox] /= cnt < 1.0f ? 1.0f : cnt;
                }
            }
        }
    }
    free(scratch);
    return 0;
}

/* input values times taps a thread reads at least */
#define EP_POOL_GRAIN (1 << 17)

/* y (planes, ho, wo) pooled from x (planes, h, w). pt / pl / pb / pr are the explicit pads (the
 * divisor of EP_POOL_AVG_INCLUDE_PAD counts them; positions past them, from ceil_mode, never count).
 * Split over planes. Returns 0, -1 when the padded plane does not fit in memory, -2 for an unknown mode. */
EP_DISPATCH
int ep_pool2d_f32(const float *x, float *y, int64_t planes, int64_t h, int64_t w, int64_t kh, int64_t kw,
                  int64_t sh, int64_t sw, int64_t dh, int64_t dw, int64_t pt, int64_t pl, int64_t pb, int64_t pr,
                  int64_t ho, int64_t wo, int mode, int64_t threads) {
    if (mode != EP_POOL_MAX && mode != EP_POOL_AVG && mode != EP_POOL_AVG_INCLUDE_PAD) return -2;
    if (planes == 0 || ho == 0 || wo == 0) return 0;
    const int64_t hp = (ho - 1) * sh + (kh - 1) * dh + 1, wp = (wo - 1) * sw + (kw - 1) * dw + 1;
    if (!ep_sizes_fit(3, hp, wp) || !ep_sizes_fit(1, ho + wo, 1)) return -1;
    float *divisors = (float *)malloc((size_t)(ho + wo) * sizeof(float));
    if (!divisors) return -1;
    float *cy = divisors, *cx = divisors + ho;
    if (mode != EP_POOL_MAX) {
        const int64_t ylo = mode == EP_POOL_AVG ? pt : 0, yhi = mode == EP_POOL_AVG ? pt + h : pt + h + pb;
        const int64_t xlo = mode == EP_POOL_AVG ? pl : 0, xhi = mode == EP_POOL_AVG ? pl + w : pl + w + pr;
        for (int64_t oy = 0; oy < ho; oy++) cy[oy] = (float)taps_inside(oy, sh, kh, dh, ylo, yhi);
        for (int64_t ox = 0; ox < wo; ox++) cx[ox] = (float)taps_inside(ox, sw, kw, dw, xlo, xhi);
    }
    const int two_by_two = kh == 2 && kw == 2 && sh == 2 && sw == 2 && dh == 1 && dw == 1 && pt == 0 && pl == 0 &&
                           hp <= h && wp <= w;
    pool_job j = {x, y, h, w, kh, kw, sh, sw, dh, dw, pt, pl, ho, wo, hp, wp, mode, cy, cx, planes, 1, two_by_two};
    const double work = (double)planes * (double)hp * (double)wp * (double)(kh + kw);
    const int64_t parts = ep_parts_for(threads, work > 9.0e15 ? (int64_t)9.0e15 : (int64_t)work, EP_POOL_GRAIN);
    j.parts = parts < planes ? parts : planes;
    const int rc = j.parts == 1 ? pool_part(&j, 0) : ep_parallel_for(threads, j.parts, pool_part, &j);
    free(divisors);
    return rc;
}

/* planes of fewer values than this take the mean's short-plane loop */
#define EP_SMALL_PLANE 256

/* y[p] = max or mean of x[p * size .. (p + 1) * size); mean sums in double. Returns 0, or -2 for
 * an unknown mode. An empty plane gives NaN for the mean and -inf for the max, as numpy does. */
typedef struct {
    const float *x;
    float *y;
    int64_t planes, size, parts;
    int mode;
} global_pool_job;

EP_DISPATCH
static int global_pool_part(void *ctx, int64_t part) {
    enum { L = 16 };
    const global_pool_job *j = (const global_pool_job *)ctx;
    const float *x = j->x;
    float *y = j->y;
    const int64_t size = j->size;
    int64_t p0, p1;
    ep_part_range(j->planes, j->parts, part, 1, &p0, &p1);
    for (int64_t pi = p0; pi < p1; pi++) {
        const float *p = x + pi * size;
        int64_t i = 0;
        if (j->mode == EP_POOL_MAX) {
            float acc[L];
            for (int j = 0; j < L; j++) acc[j] = -INFINITY;
            for (; i + L <= size; i += L)
                for (int j = 0; j < L; j++) {
                    const float v = p[i + j];
                    acc[j] = (v > acc[j] || v != v) ? v : acc[j];
                }
            float best = -INFINITY;
            for (int j = 0; j < L; j++) best = (acc[j] > best || acc[j] != acc[j]) ? acc[j] : best;
            for (; i < size; i++) best = (p[i] > best || p[i] != p[i]) ? p[i] : best;
            y[pi] = best;
        } else if (size < EP_SMALL_PLANE) {
            /* small planes (7x7, 14x14: squeeze-excite blocks): 8 double lanes, one vector add a
             * step, folded pairwise, so the fixed cost per plane stays small */
            enum { S = 8 };
            double acc[S];
            for (int j = 0; j < S; j++) acc[j] = 0.0;
            for (; i + S <= size; i += S) {
#pragma GCC unroll 1
                for (int j = 0; j < S; j++) {
                    const double u = (double)p[i + j], v = acc[j];
                    acc[j] = v + u;
                }
            }
            double total = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
            for (; i < size; i++) total += (double)p[i];
            y[pi] = (float)(total / (double)size);
        } else {
            double acc[L];
            for (int j = 0; j < L; j++) acc[j] = 0.0;
            for (; i + L <= size; i += L)
                for (int j = 0; j < L; j++) acc[j] += (double)p[i + j];
            double total = 0.0;
            for (int j = 0; j < L; j++) total += acc[j];
            for (; i < size; i++) total += (double)p[i];
            y[pi] = (float)(total / (double)size);
        }
    }
    return 0;
}

/* values a thread reads at least */
#define EP_GLOBAL_POOL_GRAIN (1 << 17)

EP_DISPATCH
int ep_global_pool_f32(const float *x, float *y, int64_t planes, int64_t size, int mode, int64_t threads) {
    if (mode != EP_POOL_MAX && mode != EP_POOL_AVG) return -2;
    global_pool_job j = {x, y, planes, size, 1, mode};
    const int64_t parts = ep_parts_for(threads, planes * size, EP_GLOBAL_POOL_GRAIN);
    j.parts = parts < planes ? parts : planes;
    if (j.parts <= 1) return global_pool_part(&j, 0);
    return ep_parallel_for(threads, j.parts, global_pool_part, &j);
}
