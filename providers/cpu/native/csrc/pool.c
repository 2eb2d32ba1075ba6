/* Max / average pooling over 1-D, 2-D and 3-D windows and global pooling, NCHW float32.
 *
 * The window is separable, and every pass runs in blocks of 16 floats (one AVX-512 vector, two AVX2
 * ones) whatever the width of the map, so that short rows (a 10x10 map, a 4x32 one) cost a few
 * vector operations a row instead of a scalar loop:
 *
 * - depth (3-D only): the input slices a depth window reads are folded into one map;
 * - max, vertical first: for each output row, the input rows its window reads (rows in the padding
 *   are skipped: the fold ignores them) are folded into a frame row, written at the left pad's
 *   offset between fills of -inf; then kw taps at stride sw along it, straight into y;
 * - average, rows first (the numpy kernel's order of additions): the input rows a window reads are
 *   copied into zero-padded frame rows and summed along x, then those sums along y straight into y,
 *   times 1 / divisor per output position (precomputed per call);
 * - the 2x2 window at stride 2 inside the map: both folds in registers.
 *
 * Blocks may run past the end of a row: the extra values read are other rows of the same tensor
 * (never past its end: rows that would read past it take the exact loop) and the extra outputs
 * written land on the next output rows, which are computed after; the last rows of each thread's
 * range go through a small buffer.
 *
 * A NaN in a window gives NaN, as numpy's maximum does. The plain max (`v > a ? v : a`, one max
 * instruction) drops a NaN, so the values read are checked; a group of maps that held one is pooled
 * again with the NaN-aware max.
 */
#include <math.h>
#include <stdlib.h>

#include "ep_native.h"

/* A build whose base target has AVX-512 already (-march=native on such a CPU) needs no clones; GCC 12
 * also stops with an internal error on this file's 64-byte shuffles in the AVX2 clone of such a build. */
#if defined(__AVX512F__)
#undef EP_DISPATCH
#define EP_DISPATCH
#endif

/* the 64-byte vectors below only pass between always_inline helpers: no call ABI is involved */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

enum { PB = 16 };             /* the block width */
enum { K_MAX = 0, K_MAX_NAN = 1, K_SUM = 2 };

#define ROUND_UP(n) (((n) + PB - 1) / PB * PB)

/* one block as a GCC vector (one zmm, two ymm or four xmm, whatever the clone's target) */
typedef float v16f __attribute__((vector_size(64), aligned(4)));
typedef int32_t v16i __attribute__((vector_size(64), aligned(4)));

EP_INLINE v16f load16(const float *p) {
    v16f v;
    memcpy(&v, p, sizeof v);
    return v;
}

EP_INLINE void store16(float *p, v16f v) { memcpy(p, &v, sizeof v); }

/* c |= (u != u) per lane, written per lane so that target_clones builds vectorise it */
EP_INLINE v16i note_nan(v16i c, v16f u) {
    for (int k = 0; k < PB; k++) c[k] |= u[k] != u[k];
    return c;
}

EP_INLINE v16f select16(v16i m, v16f a, v16f b) { return (v16f)(((v16i)a & m) | ((v16i)b & ~m)); }

/* the fold of `kind`: a + u, or the max (the NaN-aware one picks u when u is NaN); written per lane
 * so that the plain max compiles to one max instruction */
EP_INLINE v16f fold16(v16f a, v16f u, int kind) {
    if (kind == K_SUM) return a + u;
    v16f r;
    if (kind == K_MAX)
        for (int j = 0; j < PB; j++) r[j] = u[j] > a[j] ? u[j] : a[j];
    else
        for (int j = 0; j < PB; j++) r[j] = (u[j] > a[j] || u[j] != u[j]) ? u[j] : a[j];
    return r;
}

/* fold16 for shuffled operands, as selects (the per-lane form is not vectorised after a shuffle) */
EP_INLINE v16f fold16_shuffled(v16f a, v16f u, int kind) {
    if (kind == K_SUM) return a + u;
    if (kind == K_MAX) return select16(u > a, u, a);
    return select16((u > a) | (u != u), u, a);
}

EP_INLINE float fold1(float a, float u, int kind) {
    if (kind == K_SUM) return a + u;
    if (kind == K_MAX) return u > a ? u : a;
    return (u > a || u != u) ? u : a;
}

/* dst[x] = fold over t < taps of r[t * step + x], x < n (a multiple of PB); with `check`, NaNs read
 * are noted in *chk */
EP_INLINE void fold_rows_taps(float *restrict dst, const float *restrict r, int64_t step, int64_t taps, int64_t n,
                              int kind, int check, v16i *restrict chk) {
    v16i c = *chk;
    for (int64_t x = 0; x < n; x += PB) {
        v16f acc = load16(r + x);
        if (check) c = note_nan(c, acc);
        for (int64_t t = 1; t < taps; t++) {
            const v16f u = load16(r + t * step + x);
            if (check) c = note_nan(c, u);
            acc = fold16(acc, u, kind);
        }
        store16(dst + x, acc);
    }
    *chk = c;
}

/* fold_rows_taps with the common tap counts as constants */
EP_INLINE void fold_rows(float *restrict dst, const float *restrict r, int64_t step, int64_t taps, int64_t n,
                         int kind, int check, v16i *restrict chk) {
    if (taps == 1) fold_rows_taps(dst, r, step, 1, n, kind, check, chk);
    else if (taps == 2) fold_rows_taps(dst, r, step, 2, n, kind, check, chk);
    else if (taps == 3) fold_rows_taps(dst, r, step, 3, n, kind, check, chk);
    else fold_rows_taps(dst, r, step, taps, n, kind, check, chk);
}

/* fold_rows over exactly n values (rows near the end of the input) */
EP_INLINE void fold_rows_exact(float *restrict dst, const float *restrict r, int64_t step, int64_t taps, int64_t n,
                               int kind, v16i *restrict chk) {
    int nan = 0;
    for (int64_t x = 0; x < n; x++) {
        float acc = r[x];
        nan |= acc != acc;
        for (int64_t t = 1; t < taps; t++) {
            const float u = r[t * step + x];
            nan |= u != u;
            acc = fold1(acc, u, kind);
        }
        dst[x] = acc;
    }
    if (nan) (*chk)[0] = 1;
}

/* whether one of the n values at p is NaN */
EP_INLINE int has_nan(const float *p, int64_t n) {
    v16i c = {0};
    int64_t i = 0;
    for (; i + PB <= n; i += PB) c = note_nan(c, load16(p + i));
    int any = 0;
    for (; i < n; i++) any |= p[i] != p[i];
    for (int k = 0; k < PB; k++) any |= c[k] != 0;
    return any;
}

/* fold over t < taps of v[t * d + j], j < PB */
EP_INLINE v16f fold_block(const float *restrict v, int64_t d, int64_t taps, int kind) {
    v16f acc = load16(v);
    for (int64_t t = 1; t < taps; t++) acc = fold16(acc, load16(v + t * d), kind);
    return acc;
}

/* out[q] = fold over t < taps of v[q * S + t * d], q < n (a multiple of PB), times rcp[q] for the sum
 * when rcp is given.
 * Stride 2 folds two contiguous blocks and keeps their even lanes. */
EP_INLINE void fold_cols_taps(float *restrict out, const float *restrict v, int64_t S, int64_t d, int64_t taps,
                              int64_t n, int kind, const float *restrict rcp) {
    const v16i even = {0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30};
    for (int64_t q = 0; q < n; q += PB) {
        const float *c = v + q * S;
        v16f acc;
        if (S == 1) {
            acc = fold_block(c, d, taps, kind);
        } else if (S == 2) {
            acc = __builtin_shuffle(fold_block(c, d, taps, kind), fold_block(c + PB, d, taps, kind), even);
        } else {
            float g[PB];
            for (int j = 0; j < PB; j++) {
                float a = c[j * S];
                for (int64_t t = 1; t < taps; t++) a = fold1(a, c[j * S + t * d], kind);
                g[j] = a;
            }
            acc = load16(g);
        }
        if (kind == K_SUM && rcp) acc *= load16(rcp + q);
        store16(out + q, acc);
    }
}

/* fold_cols_taps with the common strides and tap counts as constants */
EP_INLINE void fold_cols_stride(float *restrict out, const float *restrict v, int64_t S, int64_t d, int64_t taps,
                                int64_t n, int kind, const float *restrict rcp) {
    if (taps == 2) fold_cols_taps(out, v, S, d, 2, n, kind, rcp);
    else if (taps == 3) fold_cols_taps(out, v, S, d, 3, n, kind, rcp);
    else if (taps == 5) fold_cols_taps(out, v, S, d, 5, n, kind, rcp);
    else fold_cols_taps(out, v, S, d, taps, n, kind, rcp);
}

EP_INLINE void fold_cols(float *restrict out, const float *restrict v, int64_t S, int64_t d, int64_t taps, int64_t n,
                         int kind, const float *restrict rcp) {
    if (S == 1) fold_cols_stride(out, v, 1, d, taps, n, kind, rcp);
    else if (S == 2) fold_cols_stride(out, v, 2, d, taps, n, kind, rcp);
    else fold_cols_taps(out, v, S, d, taps, n, kind, rcp);
}

EP_INLINE void fill_block(float *restrict p, float fill) {
    for (int j = 0; j < PB; j++) p[j] = fill;
}

/* the first tap k0 and the end k1 of the taps k (k < ks) whose position o * s - pad + k * d lies in [0, n) */
EP_INLINE void tap_range(int64_t o, int64_t s, int64_t pad, int64_t ks, int64_t d, int64_t n, int64_t *k0,
                         int64_t *k1) {
    const int64_t i0 = o * s - pad;
    int64_t a = i0 < 0 ? (-i0 + d - 1) / d : 0;
    int64_t b = n - i0 <= 0 ? 0 : (n - i0 + d - 1) / d;
    if (b > ks) b = ks;
    if (a > b) a = b;
    *k0 = a;
    *k1 = b;
}

typedef struct {
    const float *x;
    float *y;
    int64_t planes;
    int64_t d, h, w, kd, kh, kw, sd, sh, sw, dd, dh, dw, pf, pt, pl, od, ho, wo;
    int mode;
    const float *rcp;              /* the average's 1 / divisor: [od][ho][wo16] */
    const int64_t *row_first, *row_taps; /* per output row: the first input row read, the taps inside */
    int64_t rows_lo, rows_n;             /* the input rows some window reads */
    int two_by_two;                      /* a 2x2 window at stride 2 inside the map (pool_2x2_map) */
    int flat;                            /* one output slice, the one input slice: maps are the planes */
    int fast;                            /* FAST_*: the max without a frame row (fast_maps) */
    int64_t wo16, wcopy, wcopy16; /* wcopy: the input columns a window reads */
    int64_t vlen;                 /* floats of the row buffer */
    int64_t parts;
} pool_job;

/* the vertical pass of one map (h x w at src; reads stay below src_end): its ho rows of the frame,
 * pitch vlen, at v; with `check`, whether a value read was NaN */
EP_INLINE int vertical_map(const pool_job *j, const float *src, const float *src_end, float *restrict v, int kind,
                           int check) {
    const int64_t w = j->w, pl = j->pl, ho = j->ho, vlen = j->vlen, wcopy = j->wcopy, wcopy16 = j->wcopy16;
    const float fill = kind == K_SUM ? 0.0f : -INFINITY;
    const int64_t step = j->dh * w;
    v16i chk = {0};
    for (int64_t oy = 0; oy < ho; oy++, v += vlen) {
        const int64_t taps = j->row_taps[oy];
        if (taps == 0 || wcopy == 0) {
            for (int64_t x = 0; x < wcopy16; x += PB) fill_block(v + pl + x, fill);
        } else {
            const float *r = src + j->row_first[oy] * w;
            if (r + (taps - 1) * step + wcopy16 <= src_end)
                fold_rows(v + pl, r, step, taps, wcopy16, kind, check, &chk);
            else
                fold_rows_exact(v + pl, r, step, taps, wcopy, kind, &chk);
        }
        fill_block(v + pl + wcopy, fill);
    }
    int any = 0;
    for (int i = 0; i < PB; i++) any |= chk[i] != 0;
    return check && any;
}

/* the horizontal pass: `rows` output rows (the first one row 0 of a map) from the frame rows at v
 * (pitch vlen) into y (pitch wo), times rcp's row for the sum when rcp is given; writes nothing at or
 * past yend (those rows go through tail) */
EP_INLINE void horizontal_rows_taps(const pool_job *j, const float *restrict v, int64_t rows, float *restrict y,
                                    int64_t pitch, const float *yend, const float *rcp, float *restrict tail, int kind,
                                    int64_t S, int64_t taps) {
    const int64_t dw = j->dw, ho = j->ho, wo = j->wo, wo16 = j->wo16, vlen = j->vlen;
    int64_t oy = 0;
    for (int64_t r = 0; r < rows; r++, v += vlen, oy = oy + 1 == ho ? 0 : oy + 1) {
        float *out = y + r * pitch;
        const int exact = out + wo16 > yend;
        float *dst = exact ? tail : out;
        fold_cols_taps(dst, v, S, dw, taps, wo16, kind, rcp ? rcp + oy * wo16 : NULL);
        if (exact) memcpy(out, tail, (size_t)wo * sizeof(float));
    }
}

/* horizontal_rows_taps with the common strides and tap counts as constants */
EP_INLINE void horizontal_rows(const pool_job *j, const float *restrict v, int64_t rows, float *restrict y,
                               int64_t pitch, const float *yend, const float *rcp, float *restrict tail, int kind) {
    const int64_t sw = j->sw, kw = j->kw;
#define EP_HROWS(S, T) horizontal_rows_taps(j, v, rows, y, pitch, yend, rcp, tail, kind, S, T)
    if (sw == 1 && kw == 2) EP_HROWS(1, 2);
    else if (sw == 1 && kw == 3) EP_HROWS(1, 3);
    else if (sw == 1 && kw == 5) EP_HROWS(1, 5);
    else if (sw == 1) EP_HROWS(1, kw);
    else if (sw == 2 && kw == 2) EP_HROWS(2, 2);
    else if (sw == 2 && kw == 3) EP_HROWS(2, 3);
    else if (sw == 2) EP_HROWS(2, kw);
    else EP_HROWS(sw, kw);
#undef EP_HROWS
}

/* The 2x2 window at stride 2 with every tap inside the map: each block of 16 outputs folds its two
 * input rows (32 columns each) and then the even and odd lanes, in registers. Rows near the end of
 * the input and of the part's outputs take the exact loop. */
EP_INLINE int pool_2x2_map(const pool_job *j, const float *src, const float *x_end, float *restrict y,
                           const float *yend, const float *rcp, int kind) {
    const v16i even = {0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30};
    const v16i odd = {1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31};
    const int64_t w = j->w, ho = j->ho, wo = j->wo, wo16 = j->wo16;
    /* K_MAX: the sum of the inputs times 0, NaN when one is NaN (or infinite: then the NaN-aware
     * max runs for nothing, but gives the same result) */
    v16f probe = {0};
    float probe1 = 0.0f;
    for (int64_t oy = 0; oy < ho; oy++) {
        const float *r0 = src + 2 * oy * w, *r1 = r0 + w;
        float *out = y + oy * wo;
        if (r1 + 2 * wo16 <= x_end && out + wo16 <= yend) {
            for (int64_t q = 0; q < wo16; q += PB) {
                const v16f a0 = load16(r0 + 2 * q), b0 = load16(r1 + 2 * q);
                const v16f a1 = load16(r0 + 2 * q + PB), b1 = load16(r1 + 2 * q + PB);
                if (kind == K_MAX) probe += ((a0 + b0) + (a1 + b1)) * 0.0f;
                v16f acc;
                if (kind == K_SUM) { /* the taps in the numpy kernel's order: row 0, then row 1 */
                    acc = ((__builtin_shuffle(a0, a1, even) + __builtin_shuffle(a0, a1, odd)) +
                           __builtin_shuffle(b0, b1, even)) + __builtin_shuffle(b0, b1, odd);
                    acc *= load16(rcp + oy * wo16 + q);
                } else {
                    const v16f m0 = fold16(a0, b0, kind), m1 = fold16(a1, b1, kind);
                    acc = fold16_shuffled(__builtin_shuffle(m0, m1, even), __builtin_shuffle(m0, m1, odd), kind);
                }
                store16(out + q, acc);
            }
        } else {
            for (int64_t q = 0; q < wo; q++) {
                const float a0 = r0[2 * q], a1 = r0[2 * q + 1], b0 = r1[2 * q], b1 = r1[2 * q + 1];
                if (kind == K_MAX) probe1 += ((a0 + b0) + (a1 + b1)) * 0.0f;
                float acc = kind == K_SUM ? ((a0 + a1) + b0) + b1 : fold1(fold1(a0, b0, kind), fold1(a1, b1, kind), kind);
                if (kind == K_SUM) acc *= rcp[oy * wo16 + q];
                out[q] = acc;
            }
        }
    }
    int nan = probe1 != probe1;
    for (int i = 0; i < PB; i++) nan |= probe[i] != probe[i];
    return nan;
}

/* The max over rows without a frame row: two paths for 2-D maps without a left pad, each writing y
 * straight from the input rows, in the general path's order of folds (rows first, then the taps
 * along x), so that the bits are the same. The values read are summed into a probe: a NaN (or an
 * infinity) among them makes the part run the general path instead.
 * - FAST_S2: stride 2 along x, 2 or 3 taps (captcha's and squeezenet's 3x3 s2 ceil_mode pools): the
 *   vertical folds of 32 columns are split into even and odd lanes in registers; a third tap is the
 *   even lanes moved by one, the next block's first even lane coming in.
 * - FAST_ROWS: one tap along x at stride 1 (crnn's 2x1 pools): the vertical fold is the output row.
 * Columns past the map (ceil_mode, an end pad) are -inf in the vertical blocks, as in the frame row;
 * rows whose blocks would read past the input or write past the part take the exact loop. */
enum { FAST_NONE = 0, FAST_S2 = 1, FAST_ROWS = 2 };

/* the fold (K_MAX) of `taps` rows at r, `step` apart, of the block at column c, its columns at or past
 * w -inf (the general path's frame fill); the values read are added to *probe */
EP_INLINE v16f vertical_block(const float *restrict r, int64_t step, int64_t taps, int64_t c, int64_t w, v16f *probe) {
    const v16f ninf = {-INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY,
                       -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY};
    if (c >= w) return ninf;
    v16f acc = load16(r + c), sum = acc;
    for (int64_t t = 1; t < taps; t++) {
        const v16f u = load16(r + t * step + c);
        sum += u;
        acc = fold16_shuffled(acc, u, K_MAX);
    }
    *probe += sum;
    if (c + PB > w) {
        const v16i lane = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
        acc = select16(lane < (int32_t)(w - c), acc, ninf);
    }
    return acc;
}

/* outputs [q0, q1) of one row exactly: output q folds the columns q * S + k (k < kw) inside [0, w),
 * each the fold of its `taps` rows; -inf without one. NaNs read are added to *probe. */
EP_INLINE void exact_cols(const float *restrict r, int64_t step, int64_t taps, int64_t w, int64_t S, int64_t kw,
                          float *restrict out, int64_t q0, int64_t q1, float *probe) {
    float sum = 0.0f;
    for (int64_t q = q0; q < q1; q++) {
        float acc = -INFINITY;
        for (int64_t k = 0; k < kw && q * S + k < w; k++) {
            const float *c = r + q * S + k;
            float v = c[0];
            sum += v * 0.0f;
            for (int64_t t = 1; t < taps; t++) {
                sum += c[t * step] * 0.0f;
                v = fold1(v, c[t * step], K_MAX);
            }
            acc = fold1(acc, v, K_MAX);
        }
        out[q] = acc;
    }
    *probe += sum;
}

/* FAST_S2's blocks of one output row: n outputs (a multiple of PB) at out, kw (2 or 3) taps, the
 * columns at or past w in the padding */
EP_INLINE void s2_row_blocks(const float *restrict r, int64_t step, int64_t taps, int64_t kw, int64_t w,
                             float *restrict out, int64_t n, v16f *probe) {
    const v16i even = {0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30};
    const v16i odd = {1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31};
    const v16i next = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    v16f sum = {0}; /* a local: stores to out could alias *probe */
    v16f a = vertical_block(r, step, taps, 0, w, &sum);
    for (int64_t q = 0; q < n; q += PB) {
        const v16f b = vertical_block(r, step, taps, 2 * q + PB, w, &sum);
        const v16f e = __builtin_shuffle(a, b, even);
        v16f acc = fold16_shuffled(e, __builtin_shuffle(a, b, odd), K_MAX);
        if (kw == 3 || q + PB < n) {
            const v16f c = vertical_block(r, step, taps, 2 * q + 2 * PB, w, &sum);
            if (kw == 3) acc = fold16_shuffled(acc, __builtin_shuffle(e, c, next), K_MAX);
            a = c;
        }
        store16(out + q, acc);
    }
    *probe += sum;
}

/* s2_row_blocks with the common tap counts as constants */
EP_INLINE void s2_row(const float *restrict r, int64_t step, int64_t taps, int64_t kw, int64_t w, float *restrict out,
                      int64_t n, v16f *probe) {
    if (kw == 3 && taps == 3) s2_row_blocks(r, step, 3, 3, w, out, n, probe);
    else if (kw == 3 && taps == 2) s2_row_blocks(r, step, 2, 3, w, out, n, probe);
    else if (kw == 3) s2_row_blocks(r, step, taps, 3, w, out, n, probe);
    else if (taps == 2) s2_row_blocks(r, step, 2, 2, w, out, n, probe);
    else if (taps == 3) s2_row_blocks(r, step, 3, 2, w, out, n, probe);
    else s2_row_blocks(r, step, taps, 2, w, out, n, probe);
}

/* FAST_ROWS's blocks of one output row: the fold of `taps` rows over n columns (a multiple of PB) */
EP_INLINE void rows_blocks(const float *restrict r, int64_t step, int64_t taps, float *restrict out, int64_t n,
                           v16f *probe) {
    v16f sum = {0};
    for (int64_t q = 0; q < n; q += PB) store16(out + q, vertical_block(r, step, taps, q, n, &sum));
    *probe += sum;
}

/* maps [m0, m1) by the fast path j->fast; returns whether a value read was NaN or infinite (then
 * nothing it wrote counts: the general path computes the maps again) */
EP_INLINE int fast_maps(const pool_job *j, int64_t m0, int64_t m1, const float *yend) {
    const int64_t h = j->h, w = j->w, ho = j->ho, wo = j->wo, wo16 = j->wo16, kw = j->kw, step = j->dh * w;
    const int s2 = j->fast == FAST_S2;
    const int64_t S = s2 ? 2 : 1;
    /* the floats a row's blocks read */
    const int64_t reach = s2 ? 2 * wo16 + (kw == 3 ? PB : 0) : wo16;
    const float *x_end = j->x + j->planes * h * w;
    v16f probe = {0};
    float probe1 = 0.0f;
    for (int64_t m = m0; m < m1; m++) {
        const float *src = j->x + m * h * w;
        float *ym = j->y + m * ho * wo;
        for (int64_t oy = 0; oy < ho; oy++) {
            const int64_t taps = j->row_taps[oy];
            const float *r = src + j->row_first[oy] * w;
            float *out = ym + oy * wo;
            if (taps == 0) {
                for (int64_t q = 0; q < wo; q++) out[q] = -INFINITY;
            } else if (r + (taps - 1) * step + reach <= x_end && out + wo16 <= yend) {
                if (s2) s2_row(r, step, taps, kw, w, out, wo16, &probe);
                else if (taps == 2) rows_blocks(r, step, 2, out, wo16, &probe);
                else rows_blocks(r, step, taps, out, wo16, &probe);
            } else {
                exact_cols(r, step, taps, w, S, kw, out, 0, wo, &probe1);
            }
        }
    }
    int bad = probe1 != probe1;
    probe *= 0.0f;
    for (int i = 0; i < PB; i++) bad |= probe[i] != probe[i];
    return bad;
}

/* the frame rows a part keeps: the vertical pass of a group of maps is written out before the
 * horizontal pass reads it (reading a row just stored, at other offsets, would stall on the
 * store-to-load forwarding of every block) */
#define EP_POOL_GROUP_FLOATS 8192
/* maps of at most this many floats whose windows overlap along y are checked for NaNs before the
 * vertical pass */
#define EP_POOL_SMALL_MAP 4096

/* the map (plane p, output depth oz) a 3-D window reads, its depth taps folded into `map`; a 2-D
 * map is the input itself. Returns it; *end bounds its reads, *nan notes a NaN read (K_MAX). */
EP_INLINE const float *depth_map(const pool_job *j, int64_t p, int64_t oz, float *restrict map, int kind,
                                 const float **end, int *nan) {
    const int64_t h = j->h, w = j->w, plane_in = j->d * h * w, map16 = ROUND_UP(h * w) + PB;
    const float *xp = j->x + p * plane_in, *x_end = j->x + j->planes * plane_in;
    *end = x_end;
    if (j->flat) return xp;
    int64_t k0, k1;
    tap_range(oz, j->sd, j->pf, j->kd, j->dd, j->d, &k0, &k1);
    if (k0 >= k1) {
        const float fill = kind == K_SUM ? 0.0f : -INFINITY;
        for (int64_t i = 0; i < map16; i++) map[i] = fill;
    } else {
        const float *r = xp + (oz * j->sd - j->pf + k0 * j->dd) * h * w;
        const int64_t step = j->dd * h * w, taps = k1 - k0;
        v16i chk = {0};
        if (kind == K_MAX) *nan |= has_nan(r, (taps - 1) * step + h * w);
        if (r + (taps - 1) * step + ROUND_UP(h * w) > x_end)
            fold_rows_exact(map, r, step, taps, h * w, kind, &chk);
        else if (kind == K_MAX)
            fold_rows(map, r, step, taps, ROUND_UP(h * w), K_MAX, 0, &chk);
        else if (kind == K_SUM)
            fold_rows(map, r, step, taps, ROUND_UP(h * w), K_SUM, 0, &chk);
        else
            fold_rows(map, r, step, taps, ROUND_UP(h * w), K_MAX_NAN, 0, &chk);
    }
    *end = map + map16;
    return map;
}

/* dst[q] = (sum over t < taps of r[t * step + q]) * rcp[q], q < n (a multiple of PB); 0 without taps */
EP_INLINE void sum_rows(float *restrict dst, const float *restrict r, int64_t step, int64_t taps, int64_t n,
                        const float *restrict rcp) {
    for (int64_t q = 0; q < n; q += PB) {
        v16f acc = {0};
        if (taps > 0) acc = load16(r + q);
        for (int64_t t = 1; t < taps; t++) acc += load16(r + t * step + q);
        store16(dst + q, acc * load16(rcp + q));
    }
}

/* The average of maps [g0, g1): rows first, as the numpy kernel sums (so that the sums round as
 * its do at stride 1): the input rows copied into frame rows f (pitch vlen), each summed along x
 * into hs (pitch wo16), those rows summed along y straight into y, times 1 / divisor. */
EP_INLINE void average_group(const pool_job *j, int64_t g0, int64_t g1, float *restrict f, float *restrict hs,
                             float *restrict map, float *restrict tail, const float *yend) {
    const int64_t w = j->w, pl = j->pl, ho = j->ho, wo = j->wo, wo16 = j->wo16, vlen = j->vlen, od = j->od;
    const int64_t lo = j->rows_lo, n = j->rows_n, wcopy = j->wcopy, wcopy16 = j->wcopy16;
    for (int64_t m = g0; m < g1; m++) {
        const float *end;
        int nan = 0;
        const float *src = depth_map(j, m / od, m % od, map, K_SUM, &end, &nan);
        float *fm = f + (m - g0) * n * vlen;
        for (int64_t r = 0; r < n; r++) {
            const float *row = src + (lo + r) * w;
            float *dst = fm + r * vlen + pl;
            if (row + wcopy16 <= end)
                for (int64_t x = 0; x < wcopy16; x += PB) store16(dst + x, load16(row + x));
            else
                memcpy(dst, row, (size_t)wcopy * sizeof(float));
            fill_block(dst + wcopy, 0.0f);
        }
        /* each map's sums along x, once its rows are all copied */
    }
    /* the sums along x of every copied row */
    horizontal_rows(j, f, (g1 - g0) * n, hs, wo16, hs + (g1 - g0) * n * wo16 + wo16, NULL, tail, K_SUM);
    for (int64_t m = g0; m < g1; m++) {
        const float *hm = hs + (m - g0) * n * wo16, *rcp = j->rcp + (m % od) * ho * wo16;
        float *ym = j->y + m * ho * wo;
        for (int64_t oy = 0; oy < ho; oy++) {
            const int64_t taps = j->row_taps[oy];
            const float *h0 = hm + (j->row_first[oy] - lo) * wo16;
            float *out = ym + oy * wo;
            const int exact = out + wo16 > yend;
            float *dst = exact ? tail : out;
            const int64_t step = j->dh * wo16;
            if (taps == 2) sum_rows(dst, h0, step, 2, wo16, rcp + oy * wo16);
            else if (taps == 3) sum_rows(dst, h0, step, 3, wo16, rcp + oy * wo16);
            else sum_rows(dst, h0, step, taps, wo16, rcp + oy * wo16);
            if (exact) memcpy(out, tail, (size_t)wo * sizeof(float));
        }
    }
}

/* maps [m0, m1) (map = plane * od + output depth) of one part, in groups */
EP_DISPATCH
static int pool_part(void *ctx, int64_t part) {
    const pool_job *j = (const pool_job *)ctx;
    const int64_t d = j->d, h = j->h, w = j->w, od = j->od;
    const int64_t ho = j->ho, vlen = j->vlen, plane_in = d * h * w, map_out = ho * j->wo;
    int64_t m0, m1;
    ep_part_range(j->planes * od, j->parts, part, 1, &m0, &m1);
    if (m0 >= m1) return 0;
    if (j->fast != FAST_NONE && !fast_maps(j, m0, m1, j->y + m1 * ho * j->wo)) return 0;
    const int depth = !j->flat;
    const int64_t map16 = ROUND_UP(h * w) + PB;
    const int avg = j->mode != EP_POOL_MAX;
    /* max: the frame rows of the vertical pass; average: the frame rows of the input and their sums */
    const int64_t per_map = avg ? j->rows_n * (vlen + j->wo16) : ho * vlen;
    int64_t group = per_map > 0 ? EP_POOL_GROUP_FLOATS / per_map : 1;
    if (group < 1) group = 1;
    if (group > m1 - m0) group = m1 - m0;
    const int64_t agroup = group;
    const float *x_end = j->x + j->planes * plane_in;
    const float *yend = j->y + m1 * map_out;
    if (j->two_by_two) { /* no frame rows */
        for (int64_t m = m0; m < m1; m++) {
            const float *src = j->x + m * plane_in;
            float *ym = j->y + m * map_out;
            if (avg) pool_2x2_map(j, src, x_end, ym, yend, j->rcp, K_SUM);
            else if (pool_2x2_map(j, src, x_end, ym, yend, j->rcp, K_MAX))
                pool_2x2_map(j, src, x_end, ym, yend, j->rcp, K_MAX_NAN); /* a NaN or an infinity was read */
        }
        return 0;
    }
    const int64_t frames = avg ? group * j->rows_n * vlen : group * ho * vlen;
    float *scratch = (float *)malloc((size_t)(group * per_map + j->wo16 + (depth ? map16 : 0) + PB) * sizeof(float));
    if (!scratch) return -1;
    float *v = scratch, *tail = v + group * per_map, *map = tail + j->wo16;
    const float fill = avg ? 0.0f : -INFINITY;
    for (int64_t i = 0; i < frames; i++) v[i] = fill;
    if (avg) {
        for (int64_t g0 = m0; g0 < m1; g0 += agroup)
            average_group(j, g0, g0 + agroup < m1 ? g0 + agroup : m1, v, v + agroup * j->rows_n * vlen, map, tail,
                          yend);
        free(scratch);
        return 0;
    }
    for (int64_t g0 = m0; g0 < m1; g0 += group) {
        const int64_t g1 = g0 + group < m1 ? g0 + group : m1;
        int kind = K_MAX;
        for (;;) {
            int nan = 0;
            for (int64_t m = g0; m < g1; m++) {
                const float *src_end;
                const float *src = depth_map(j, m / od, m % od, map, kind, &src_end, &nan);
                /* literal kinds, so that each pass is compiled (and vectorised) for its fold; a small
                 * map whose windows overlap along y is checked for NaNs in one pass (it stays in L1 for
                 * the vertical pass, which reads each row several times), others while the vertical
                 * pass reads them */
                float *vm = v + (m - g0) * ho * vlen;
                const int small = depth || (j->rows_n * w <= EP_POOL_SMALL_MAP && j->sh < j->kh * j->dh);
                if (kind == K_MAX && small) {
                    if (!depth) nan |= has_nan(src + j->rows_lo * w, j->rows_n * w);
                    vertical_map(j, src, src_end, vm, K_MAX, 0);
                } else if (kind == K_MAX) {
                    nan |= vertical_map(j, src, src_end, vm, K_MAX, 1);
                } else {
                    vertical_map(j, src, src_end, vm, K_MAX_NAN, 0);
                }
            }
            if (nan && kind == K_MAX) {
                kind = K_MAX_NAN; /* a map held a NaN: the group again, with the NaN-aware max */
                continue;
            }
            break;
        }
        float *y = j->y + g0 * map_out;
        if (kind == K_MAX) horizontal_rows(j, v, (g1 - g0) * ho, y, j->wo, yend, NULL, tail, K_MAX);
        else horizontal_rows(j, v, (g1 - g0) * ho, y, j->wo, yend, NULL, tail, K_MAX_NAN);
    }
    free(scratch);
    return 0;
}

/* number of taps k * d + o * s (k < ks) that fall in [lo, hi) */
static int64_t taps_inside(int64_t o, int64_t s, int64_t ks, int64_t d, int64_t lo, int64_t hi) {
    int64_t count = 0;
    for (int64_t k = 0; k < ks; k++) {
        const int64_t pos = o * s + k * d;
        count += pos >= lo && pos < hi;
    }
    return count;
}

/* the divisor's factors along one axis: taps counted per output position */
static void axis_counts(float *c, int64_t n_out, int64_t s, int64_t k, int64_t dil, int64_t n_in, int64_t pad_lo,
                        int64_t pad_hi, int mode) {
    const int64_t lo = mode == EP_POOL_AVG ? pad_lo : 0, hi = mode == EP_POOL_AVG ? pad_lo + n_in : pad_lo + n_in + pad_hi;
    for (int64_t o = 0; o < n_out; o++) c[o] = (float)taps_inside(o, s, k, dil, lo, hi);
}

/* values read (times taps) a thread takes at least */
#define EP_POOL_GRAIN (1 << 17)

/* y (planes, od, ho, wo) pooled from x (planes, d, h, w). geo: d h w, kd kh kw, sd sh sw, dd dh dw, the
 * pads at the start (front top left) and at the end (back bottom right), od ho wo. The divisor of
 * EP_POOL_AVG_INCLUDE_PAD counts the explicit pads; positions past them (ceil_mode) never count; a
 * divisor below 1 counts as 1. Split over planes. Returns 0, -1 when a buffer does not fit in memory,
 * -2 for an unknown mode, -3 for a geometry it does not take (a size below 1, a negative pad). */
EP_DISPATCH
int ep_pool3d_f32(const float *x, float *y, int64_t planes, const int64_t *geo, int mode, int64_t threads) {
    if (mode != EP_POOL_MAX && mode != EP_POOL_AVG && mode != EP_POOL_AVG_INCLUDE_PAD) return -2;
    pool_job j;
    memset(&j, 0, sizeof j);
    j.x = x;
    j.y = y;
    j.planes = planes;
    j.d = geo[0], j.h = geo[1], j.w = geo[2], j.kd = geo[3], j.kh = geo[4], j.kw = geo[5];
    j.sd = geo[6], j.sh = geo[7], j.sw = geo[8], j.dd = geo[9], j.dh = geo[10], j.dw = geo[11];
    j.pf = geo[12], j.pt = geo[13], j.pl = geo[14];
    const int64_t pbk = geo[15], pb = geo[16], pr = geo[17];
    j.od = geo[18], j.ho = geo[19], j.wo = geo[20];
    j.mode = mode;
    for (int i = 0; i < 21; i++)
        if (geo[i] < (i >= 12 && i < 18 ? 0 : 1) && !(i >= 18 && geo[i] == 0)) return -3;
    if (planes < 0) return -3;
    if (planes == 0 || j.od == 0 || j.ho == 0 || j.wo == 0) return 0;
    const int64_t wp = (j.wo - 1) * j.sw + (j.kw - 1) * j.dw + 1; /* the frame's width */
    if (!ep_sizes_fit(1, wp + j.pl + 16 * PB, j.sw) || !ep_sizes_fit(j.od, j.ho, j.wo + PB) ||
        !ep_sizes_fit(1, j.d * j.h, j.w + PB) || !ep_sizes_fit(planes, j.d * j.h, j.w))
        return -1;
    j.wo16 = ROUND_UP(j.wo);
    j.wcopy = wp - j.pl < j.w ? wp - j.pl : j.w;
    if (j.wcopy < 0) j.wcopy = 0;
    j.wcopy16 = ROUND_UP(j.wcopy);
    /* the row buffer: the left pad, the vertical blocks and the fill block after them, and every
     * position the horizontal blocks read */
    int64_t vlen = j.pl + j.wcopy16 + PB;
    const int64_t reach = (j.wo16 - 1) * j.sw + (j.kw - 1) * j.dw + 1;
    if (reach > vlen) vlen = reach;
    j.vlen = vlen + PB;
    if (!ep_sizes_fit(2, j.h + j.ho, j.vlen + j.wo16)) return -1; /* the frame rows of one map */
    float *rcp = NULL; /* the average's 1 / divisor; the max needs none */
    if (mode != EP_POOL_MAX) {
        rcp = (float *)malloc((size_t)(j.od * j.ho * j.wo16 + j.od + j.ho + j.wo) * sizeof(float));
        if (!rcp) return -1;
    }
    j.rcp = rcp;
    int64_t *rows = (int64_t *)malloc((size_t)(2 * j.ho) * sizeof(int64_t));
    if (!rows) {
        free(rcp);
        return -1;
    }
    for (int64_t oy = 0; oy < j.ho; oy++) {
        int64_t k0, k1;
        tap_range(oy, j.sh, j.pt, j.kh, j.dh, j.h, &k0, &k1);
        rows[oy] = k0 < k1 ? oy * j.sh - j.pt + k0 * j.dh : 0;
        rows[j.ho + oy] = k1 - k0;
    }
    j.row_first = rows;
    j.row_taps = rows + j.ho;
    int64_t lo = j.h, hi = 0;
    for (int64_t oy = 0; oy < j.ho; oy++)
        if (rows[j.ho + oy] > 0) {
            const int64_t last = rows[oy] + (rows[j.ho + oy] - 1) * j.dh + 1;
            lo = rows[oy] < lo ? rows[oy] : lo;
            hi = last > hi ? last : hi;
        }
    /* depth pads on a one-slice input (a 3-D pool of a [n, c, 1, h, w] tensor) give output slices that read
     * only padding: those take the depth pass, and the paths that read a map per plane never see them */
    j.flat = j.d == 1 && j.kd == 1 && j.od == 1 && j.pf == 0;
    j.two_by_two = j.flat && j.kh == 2 && j.kw == 2 && j.sh == 2 && j.sw == 2 && j.dh == 1 &&
                   j.dw == 1 && j.pt == 0 && j.pl == 0 && 2 * j.ho <= j.h && 2 * j.wo <= j.w;
    if (mode == EP_POOL_MAX && !j.two_by_two && j.flat && j.pl == 0 && j.dw == 1) {
        if (j.sw == 2 && (j.kw == 2 || j.kw == 3)) j.fast = FAST_S2;
        else if (j.sw == 1 && j.kw == 1 && j.wo == j.w) j.fast = FAST_ROWS;
    }
    j.rows_lo = lo < hi ? lo : 0;
    j.rows_n = lo < hi ? hi - lo : 0;
    if (mode != EP_POOL_MAX) {
        float *cz = rcp + j.od * j.ho * j.wo16, *cy = cz + j.od, *cx = cy + j.ho;
        axis_counts(cz, j.od, j.sd, j.kd, j.dd, j.d, j.pf, pbk, mode);
        axis_counts(cy, j.ho, j.sh, j.kh, j.dh, j.h, j.pt, pb, mode);
        axis_counts(cx, j.wo, j.sw, j.kw, j.dw, j.w, j.pl, pr, mode);
        for (int64_t oz = 0; oz < j.od; oz++)
            for (int64_t oy = 0; oy < j.ho; oy++) {
                float *row = rcp + (oz * j.ho + oy) * j.wo16;
                for (int64_t ox = 0; ox < j.wo16; ox++) {
                    const float cnt = ox < j.wo ? cz[oz] * cy[oy] * cx[ox] : 1.0f;
                    row[ox] = 1.0f / (cnt < 1.0f ? 1.0f : cnt);
                }
            }
    }
    const double work = (double)planes * (double)j.od * (double)j.ho * (double)(j.wcopy16 * (j.kh + j.kd) + j.wo16 * j.kw);
    const int64_t parts = ep_parts_for(threads, work > 9.0e15 ? (int64_t)9.0e15 : (int64_t)work, EP_POOL_GRAIN);
    j.parts = parts < planes * j.od ? parts : planes * j.od;
    const int rc = j.parts <= 1 ? pool_part(&j, 0) : ep_parallel_for(threads, j.parts, pool_part, &j);
    free(rows);
    free(rcp);
    return rc;
}

/* ep_pool3d_f32 for 2-D maps (planes, h, w); pt / pl / pb / pr: the explicit pads */
EP_DISPATCH
int ep_pool2d_f32(const float *x, float *y, int64_t planes, int64_t h, int64_t w, int64_t kh, int64_t kw,
                  int64_t sh, int64_t sw, int64_t dh, int64_t dw, int64_t pt, int64_t pl, int64_t pb, int64_t pr,
                  int64_t ho, int64_t wo, int mode, int64_t threads) {
    const int64_t geo[21] = {1, h, w, 1, kh, kw, 1, sh, sw, 1, dh, dw, 0, pt, pl, 0, pb, pr, 1, ho, wo};
    return ep_pool3d_f32(x, y, planes, geo, mode, threads);
}

/* The global pools read a plane in blocks of GP_BLOCK values (four vectors) and its last values as
 * vectors: whole vectors where the values past the plane are other planes of the tensor (a select
 * drops them), a filled copy for the tensor's last values. */
#define GP_BLOCK (4 * PB)

typedef float v8f __attribute__((vector_size(32), aligned(4)));
typedef double v8d __attribute__((vector_size(64)));
typedef int64_t v8l __attribute__((vector_size(64)));

/* y[p] = max or mean of x[p * size .. (p + 1) * size). Returns 0, or -2 for an unknown mode. An empty
 * plane gives NaN for the mean and -inf for the max, as numpy does. */
typedef struct {
    const float *x;
    float *y;
    int64_t planes, size, parts;
    int mode;
} global_pool_job;

/* p[0 .. n) (0 < n < PB) then `fill`; `readable`: how many floats from p on may be read */
EP_INLINE v16f gp_tail(const float *p, int64_t n, int64_t readable, float fill) {
    const v16i lane = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    const v16f fills = (v16f){0} + fill;
    if (readable >= PB) return select16(lane < (v16i){0} + (int32_t)n, load16(p), fills);
    float v[PB];
    store16(v, fills);
    memcpy(v, p, (size_t)n * sizeof(float));
    return load16(v);
}

/* *lo / *hi += the low / high eight lanes of s, as doubles */
EP_INLINE void gp_widen_add(v16f s, v8d *lo, v8d *hi) {
    v8f a, b;
    memcpy(&a, &s, sizeof a);
    memcpy(&b, (const char *)&s + sizeof a, sizeof b);
    *lo += __builtin_convertvector(a, v8d);
    *hi += __builtin_convertvector(b, v8d);
}

/* The mean of p[0 .. size): each lane sums up to four values of a block (or of the last values) in
 * float and adds that into its double; the lanes are then summed in double, in a fixed order. Far
 * more accurate than numpy's float32 mean, at half the cost of widening every value. */
EP_INLINE float gp_mean(const float *p, int64_t size, int64_t readable) {
    v8d lo = {0}, hi = {0};
    int64_t i = 0;
    for (; i + GP_BLOCK <= size; i += GP_BLOCK)
        gp_widen_add((load16(p + i) + load16(p + i + PB)) + (load16(p + i + 2 * PB) + load16(p + i + 3 * PB)), &lo,
                     &hi);
    if (i < size) {
        v16f s = {0};
        for (; i + PB <= size; i += PB) s += load16(p + i);
        if (i < size) s += gp_tail(p + i, size - i, readable - i, 0.0f);
        gp_widen_add(s, &lo, &hi);
    }
    v8d a = lo + hi;
    a += __builtin_shuffle(a, (v8l){4, 5, 6, 7, 0, 1, 2, 3});
    a += __builtin_shuffle(a, (v8l){2, 3, 0, 1, 2, 3, 0, 1});
    a += __builtin_shuffle(a, (v8l){1, 0, 1, 0, 1, 0, 1, 0});
    return (float)(a[0] / (double)size);
}

/* The max works on int32 keys: float comparisons on GCC vectors are scalarised in the target_clones
 * builds, integer ones are not. A key's signed order is its float's order, a NaN's key (its bits
 * without the sign) is above +inf's, so the largest key is the NaN-aware max. */
EP_INLINE v16i gp_key(v16f v) {
    const v16i magnitude_bits = (v16i){0} + 0x7fffffff, inf_bits = (v16i){0} + 0x7f800000;
    v16i b;
    memcpy(&b, &v, sizeof b);
    const v16i magnitude = b & magnitude_bits;
    const v16i nan = magnitude > inf_bits;
    return (nan & magnitude) | (~nan & (b ^ ((b >> 31) & magnitude_bits)));
}

EP_INLINE v16i gp_key_max(v16i a, v16i u) {
    const v16i m = u > a;
    return (u & m) | (a & ~m);
}

/* The max of p[0 .. size), NaN-aware; `readable` as for gp_tail */
EP_INLINE float gp_max(const float *p, int64_t size, int64_t readable) {
    v16i acc = gp_key((v16f){0} - INFINITY);
    int64_t i = 0;
    for (; i + GP_BLOCK <= size; i += GP_BLOCK) {
        const v16i a = gp_key_max(gp_key(load16(p + i)), gp_key(load16(p + i + PB)));
        const v16i b = gp_key_max(gp_key(load16(p + i + 2 * PB)), gp_key(load16(p + i + 3 * PB)));
        acc = gp_key_max(acc, gp_key_max(a, b));
    }
    for (; i + PB <= size; i += PB) acc = gp_key_max(acc, gp_key(load16(p + i)));
    if (i < size) acc = gp_key_max(acc, gp_key(gp_tail(p + i, size - i, readable - i, -INFINITY)));
    acc = gp_key_max(acc, __builtin_shuffle(acc, (v16i){8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7}));
    acc = gp_key_max(acc, __builtin_shuffle(acc, (v16i){4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3}));
    acc = gp_key_max(acc, __builtin_shuffle(acc, (v16i){2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1}));
    acc = gp_key_max(acc, __builtin_shuffle(acc, (v16i){1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0}));
    const int32_t bits = acc[0] >= 0 ? acc[0] : acc[0] ^ 0x7fffffff;
    return ep_bits_to_float(bits);
}

EP_DISPATCH
static int global_pool_part(void *ctx, int64_t part) {
    const global_pool_job *j = (const global_pool_job *)ctx;
    const int64_t size = j->size, total = j->planes * j->size;
    int64_t p0, p1;
    ep_part_range(j->planes, j->parts, part, 1, &p0, &p1);
    if (j->mode == EP_POOL_MAX)
        for (int64_t pi = p0; pi < p1; pi++) j->y[pi] = gp_max(j->x + pi * size, size, total - pi * size);
    else
        for (int64_t pi = p0; pi < p1; pi++) j->y[pi] = gp_mean(j->x + pi * size, size, total - pi * size);
    return 0;
}

/* values a thread reads at least */
#define EP_GLOBAL_POOL_GRAIN (1 << 17)

EP_DISPATCH
int ep_global_pool_f32(const float *x, float *y, int64_t planes, int64_t size, int mode, int64_t threads) {
    if (mode != EP_POOL_MAX && mode != EP_POOL_AVG) return -2;
    if (planes <= 0) return 0;
    global_pool_job j = {x, y, planes, size, 1, mode};
    const int64_t parts = ep_parts_for(threads, planes * size, EP_GLOBAL_POOL_GRAIN);
    j.parts = parts < planes ? parts : planes;
    if (j.parts <= 1) return global_pool_part(&j, 0);
    return ep_parallel_for(threads, j.parts, global_pool_part, &j);
}
