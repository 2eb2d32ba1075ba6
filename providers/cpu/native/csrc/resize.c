/* Resize of float32 tensors over their last two axes, separable, from the numpy kernel's own tap tables.
 *
 * The tensor is [planes, in_h, in_w]; each resized axis comes with the tables the numpy kernel plans
 * (providers/cpu/resize.py, axis_plan): for output position j, `taps` input indices idx[j * taps + k]
 * and weights w[j * taps + k] (w NULL: nearest, one tap, a copy). An axis without a table is not resized.
 * Output element (oy, ox) is computed as the numpy kernel computes it: one axis after the other, in its
 * order (`rows_first`: the rows axis first, else the columns axis first), each output of a pass the sum
 * over taps, in tap order, of weight times input, every product and sum rounded to float (no multiply-add
 * contraction in this file). So nearest gives numpy's bits and linear the same sums (the tables' float32
 * weights may differ from numpy's phase weights in the last bit).
 *
 * Nearest: an output row is one gather (an integer factor s: each input value written s times) or, when
 * it reads the same input row as the row before it, a copy of that row; 2x in both axes (YOLO's and
 * U-Net's upsampling) writes each input row's output row pair in one pass, over whole planes at once. Weighted columns-first: the
 * horizontally resampled input rows are cached (slot = row index modulo the rows' taps, which is
 * collision-free because the entry checks that each output row's taps span fewer rows than the slots),
 * and every output row blends its cached rows. Rows-first: each output row blends its input rows into a
 * scratch row, which is then resampled horizontally. Split over planes, or over blocks of output rows
 * when there are fewer planes than parts; every element is computed the same way on any thread.
 */

#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include <stdlib.h>

#include "ep_native.h"

#define EP_RESIZE_GRAIN (1 << 16)

#if defined(__GNUC__)
#define EP_PREFETCH_WRITE(p) __builtin_prefetch((p), 1, 3)
#else
#define EP_PREFETCH_WRITE(p) ((void)(p))
#endif

typedef struct {
    const float *x;
    float *y;
    int64_t planes, in_h, in_w, out_h, out_w;
    const int64_t *idx_h, *idx_w;
    const float *w_h, *w_w;
    int64_t taps_h, taps_w;
    int64_t rows_first;
    int64_t repeat_w; /* > 0: nearest columns with idx_w[j] == j / repeat_w */
    int64_t repeat_h; /* > 0: nearest rows with idx_h[i] == i / repeat_h */
    int64_t blocks, parts;
} resize_job;

/* dst (2 in_w) = each of src's values twice: as 64-bit pairs (zero-extend, shift, or: vectorises well;
 * memcpy keeps the type punning defined) */
EP_INLINE void repeat2(const float *restrict src, float *restrict dst, int64_t in_w) {
    for (int64_t i = 0; i < in_w; i++) {
        uint32_t v;
        memcpy(&v, src + i, sizeof v);
        const uint64_t b = (uint64_t)v | ((uint64_t)v << 32);
        memcpy(dst + 2 * i, &b, sizeof b);
    }
}

/* d0 and d1 (2 in_w each) = each of src's values twice (an output row pair of a 2x nearest upsampling) */
EP_INLINE void repeat2_rows2(const float *restrict src, float *restrict d0, float *restrict d1, int64_t in_w) {
    for (int64_t i = 0; i < in_w; i++) {
        uint32_t v;
        memcpy(&v, src + i, sizeof v);
        const uint64_t b = (uint64_t)v | ((uint64_t)v << 32);
        memcpy(d0 + 2 * i, &b, sizeof b);
        memcpy(d1 + 2 * i, &b, sizeof b);
    }
}

/* dst (out_w) = the columns pass over one input row src (in_w) */
EP_INLINE void columns_pass(const resize_job *j, const float *src, float *dst) {
    const int64_t out_w = j->out_w;
    if (j->idx_w == NULL) {
        memcpy(dst, src, (size_t)out_w * sizeof(float));
        return;
    }
    const int64_t *idx = j->idx_w;
    if (j->w_w == NULL) {
        if (j->repeat_w == 2) {
            repeat2(src, dst, j->in_w);
        } else if (j->repeat_w > 0) {
            const int64_t s = j->repeat_w, in_w = j->in_w;
            for (int64_t i = 0; i < in_w; i++)
                for (int64_t r = 0; r < s; r++) dst[i * s + r] = src[i];
        } else {
            for (int64_t c = 0; c < out_w; c++) dst[c] = src[idx[c]];
        }
        return;
    }
    const float *w = j->w_w;
    if (j->taps_w == 2) {
        for (int64_t c = 0; c < out_w; c++) dst[c] = src[idx[2 * c]] * w[2 * c] + src[idx[2 * c + 1]] * w[2 * c + 1];
        return;
    }
    const int64_t n = j->taps_w;
    for (int64_t c = 0; c < out_w; c++) {
        float acc = src[idx[c * n]] * w[c * n];
        for (int64_t k = 1; k < n; k++) acc = acc + src[idx[c * n + k]] * w[c * n + k];
        dst[c] = acc;
    }
}

/* dst (width) = sum over k < n of rows[k] (width) times wk[k], in tap order */
EP_INLINE void blend_rows(const float *const *rows, const float *wk, int64_t n, int64_t width, float *dst) {
    if (n == 2) {
        const float *r0 = rows[0], *r1 = rows[1];
        const float w0 = wk[0], w1 = wk[1];
        for (int64_t c = 0; c < width; c++) dst[c] = r0[c] * w0 + r1[c] * w1;
        return;
    }
    const float *r0 = rows[0];
    const float w0 = wk[0];
    for (int64_t c = 0; c < width; c++) dst[c] = r0[c] * w0;
    for (int64_t k = 1; k < n; k++) {
        const float *rk = rows[k];
        const float w = wk[k];
        for (int64_t c = 0; c < width; c++) dst[c] = dst[c] + rk[c] * w;
    }
}

/* output rows [r0, r1) of one plane */
EP_INLINE void resize_rows(const resize_job *j, const float *x, float *y, int64_t r0, int64_t r1, float *scratch,
                           int64_t *tags) {
    const int64_t in_w = j->in_w, out_w = j->out_w, n = j->taps_h;
    if (j->w_h == NULL) {
        /* rows: identity or nearest; a run of output rows reading the same input row is written once
         * and copied (a pair of a 2x upsampling in both axes is written in one pass) */
        const int64_t *idx_h = j->idx_h;
        const int pairs = j->repeat_w == 2;
        int64_t oy = r0;
        while (oy < r1) {
            const int64_t sy = idx_h != NULL ? idx_h[oy] : oy;
            int64_t run = 1;
            if (idx_h != NULL)
                while (oy + run < r1 && idx_h[oy + run] == sy) run++;
            float *dst = y + oy * out_w;
            const float *src = x + sy * in_w;
            if (run == 2 && pairs) {
                repeat2_rows2(src, dst, dst + out_w, in_w);
            } else {
                columns_pass(j, src, dst);
                for (int64_t r = 1; r < run; r++) memcpy(dst + r * out_w, dst, (size_t)out_w * sizeof(float));
            }
            oy += run;
        }
        return;
    }
    const float *rows[EP_RESIZE_MAX_TAPS];
    if (j->rows_first || j->idx_w == NULL) {
        /* blend input rows, then resample the blend's columns (straight into y when they are not resized) */
        for (int64_t oy = r0; oy < r1; oy++) {
            for (int64_t k = 0; k < n; k++) rows[k] = x + j->idx_h[oy * n + k] * in_w;
            float *dst = y + oy * out_w;
            if (j->idx_w == NULL) {
                blend_rows(rows, j->w_h + oy * n, n, in_w, dst);
            } else {
                blend_rows(rows, j->w_h + oy * n, n, in_w, scratch);
                columns_pass(j, scratch, dst);
            }
        }
        return;
    }
    /* columns first: resample each input row once into its cache slot, blend the slots */
    for (int64_t k = 0; k < n; k++) tags[k] = -1;
    for (int64_t oy = r0; oy < r1; oy++) {
        for (int64_t k = 0; k < n; k++) {
            const int64_t sy = j->idx_h[oy * n + k], slot = sy % n;
            float *row = scratch + slot * out_w;
            if (tags[slot] != sy) {
                columns_pass(j, x + sy * in_w, row);
                tags[slot] = sy;
            }
            rows[k] = row;
        }
        blend_rows(rows, j->w_h + oy * n, n, out_w, y + oy * out_w);
    }
}

EP_DISPATCH
static int resize_part(void *ctx, int64_t part) {
    const resize_job *j = (const resize_job *)ctx;
    int64_t b, e;
    ep_part_range(j->planes * j->blocks, j->parts, part, 1, &b, &e);
    if (j->repeat_h == 2 && j->repeat_w == 2 && j->blocks == 1) {
        /* 2x nearest in both axes over whole planes: their rows in one loop, each written as an output row pair;
         * the output lines about 4 KiB ahead are requested for writing (a fresh output is rarely in cache:
         * 5-10% faster then) */
        const int64_t in_w = j->in_w;
        const int64_t end = e * j->in_h, ahead = 4096 / (16 * in_w) + 1;
        for (int64_t r = b * j->in_h; r < end; r++) {
            if (r + ahead < end) {
                const float *next = j->y + 4 * (r + ahead) * in_w;
                for (int64_t c = 0; c < 4 * in_w; c += 16) EP_PREFETCH_WRITE(next + c);
            }
            repeat2_rows2(j->x + r * in_w, j->y + 4 * r * in_w, j->y + (4 * r + 2) * in_w, in_w);
        }
        return 0;
    }
    float *scratch = NULL;
    int64_t tags[EP_RESIZE_MAX_TAPS];
    if (j->w_h != NULL && j->idx_w != NULL) {
        const int64_t width = j->rows_first ? j->in_w : j->taps_h * j->out_w;
        scratch = (float *)malloc((size_t)width * sizeof(float));
        if (scratch == NULL) return -1;
    }
    for (int64_t u = b; u < e; u++) {
        const int64_t plane = u / j->blocks;
        int64_t r0, r1;
        ep_part_range(j->out_h, j->blocks, u % j->blocks, 1, &r0, &r1);
        resize_rows(j, j->x + plane * j->in_h * j->in_w, j->y + plane * j->out_h * j->out_w, r0, r1, scratch, tags);
    }
    free(scratch);
    return 0;
}

/* s when a nearest table maps output j to input j / s (an integer factor s), else 0 */
static int64_t repeat_factor(const int64_t *idx, int64_t in_len, int64_t out_len) {
    if (out_len % in_len) return 0;
    const int64_t s = out_len / in_len;
    for (int64_t c = 0; c < out_len; c++)
        if (idx[c] != c / s) return 0;
    return s;
}

/* Whether a table of `len` positions x `taps` indices stays inside [0, in_len) and, for `slots` > 0, each
 * position's taps lie within `slots` consecutive rows (so that row % slots never collides) */
static int table_ok(const int64_t *idx, int64_t len, int64_t taps, int64_t in_len, int64_t slots) {
    for (int64_t i = 0; i < len; i++) {
        int64_t lo = idx[i * taps], hi = lo;
        for (int64_t k = 0; k < taps; k++) {
            const int64_t v = idx[i * taps + k];
            if (v < 0 || v >= in_len) return 0;
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
        }
        if (slots > 0 && hi - lo >= slots) return 0;
    }
    return 1;
}

/* y [planes, out_h, out_w] = x [planes, in_h, in_w] resized as `plan` says (see the top of this file and
 * ep_native.h; a NULL idx_h / idx_w: that axis is not resized and its output length must equal its input
 * length). Returns 0, -1 when scratch memory cannot be allocated, EP_RESIZE_UNCOVERED for geometry or tables
 * it does not take (the caller then runs the numpy kernel). */
EP_DISPATCH
int ep_resize_f32(const float *x, float *y, const ep_resize_plan *plan, int64_t threads) {
    const int64_t planes = plan->planes, in_h = plan->in_h, in_w = plan->in_w, out_h = plan->out_h;
    const int64_t out_w = plan->out_w, rows_first = plan->rows_first;
    const int64_t *idx_h = plan->idx_h, *idx_w = plan->idx_w;
    const float *w_h = plan->w_h, *w_w = plan->w_w;
    int64_t taps_h = plan->taps_h, taps_w = plan->taps_w;
    if (planes <= 0 || in_h <= 0 || in_w <= 0 || out_h <= 0 || out_w <= 0) return EP_RESIZE_UNCOVERED;
    if (!ep_sizes_fit(planes, in_h, in_w) || !ep_sizes_fit(planes, out_h, out_w)) return EP_RESIZE_UNCOVERED;
    if ((idx_h == NULL && (out_h != in_h || w_h != NULL)) || (idx_w == NULL && (out_w != in_w || w_w != NULL)))
        return EP_RESIZE_UNCOVERED;
    if (idx_h == NULL || w_h == NULL) taps_h = 1;
    if (idx_w == NULL || w_w == NULL) taps_w = 1;
    if (taps_h < 1 || taps_h > EP_RESIZE_MAX_TAPS || taps_w < 1 || taps_w > EP_RESIZE_MAX_TAPS)
        return EP_RESIZE_UNCOVERED;
    if (!ep_sizes_fit(out_h, taps_h, 1) || !ep_sizes_fit(out_w, taps_w, 1) || !ep_sizes_fit(taps_h, out_w, 1))
        return EP_RESIZE_UNCOVERED;
    const int cached = w_h != NULL && idx_w != NULL && !rows_first;
    if (idx_h != NULL && !table_ok(idx_h, out_h, taps_h, in_h, cached ? taps_h : 0)) return EP_RESIZE_UNCOVERED;
    if (idx_w != NULL && !table_ok(idx_w, out_w, taps_w, in_w, 0)) return EP_RESIZE_UNCOVERED;
    resize_job j = {x, y, planes, in_h, in_w, out_h, out_w, idx_h, idx_w, w_h, w_w, taps_h, taps_w,
                    rows_first != 0, 0, 0, 1, 1};
    if (idx_w != NULL && w_w == NULL) j.repeat_w = repeat_factor(idx_w, in_w, out_w);
    if (idx_h != NULL && w_h == NULL) j.repeat_h = repeat_factor(idx_h, in_h, out_h);
    const double work = (double)planes * (double)out_h * (double)out_w * (double)(taps_h > taps_w ? taps_h : taps_w);
    const int64_t parts = ep_parts_for(threads, work > 9.0e15 ? (int64_t)9.0e15 : (int64_t)work, EP_RESIZE_GRAIN);
    if (parts > planes) {
        const int64_t blocks = (parts + planes - 1) / planes;
        j.blocks = blocks < out_h ? blocks : out_h;
    }
    const int64_t units = planes * j.blocks;
    j.parts = parts < units ? parts : units;
    if (j.parts <= 1) {
        j.parts = 1;
        return resize_part(&j, 0);
    }
    return ep_parallel_for(threads, j.parts, resize_part, &j);
}
