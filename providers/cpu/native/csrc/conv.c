/* Direct 2-D convolution for depthwise and small-group convolutions, NCHW, with a fused epilogue
 * (bias, residual add, activation), and the im2col columns of dense convolutions; both split their
 * work over the session's threads (parallel.c).
 *
 * For each image and group (and block of output rows, when the rows are split over threads) the
 * input rows it reads are copied into zero-padded scratch planes, so the inner loops have no bounds checks: every output row is a sum of whole-row passes
 * (all taps of a 3x3 or 5x5 kernel in one pass, a fixed-width pass per kernel row for widths 3, 5 and 7,
 * one pass per tap otherwise), vectorised across output columns; at stride 1 narrow maps are
 * computed as one long row over the padded width, the padding columns discarded. The epilogue
 * runs on each output row while it is in L1.
 */
#include <stdlib.h>

#include "ep_native.h"

/* stride-1 outputs at most this wide are computed as one long row (short rows vectorise poorly) */
#define EP_WIDE_MAX_WIDTH 64

/* acc[ox] += sum over kx < K of wk[kx] * r[ox * S + kx * D]; K and S constant when inlined */
EP_INLINE void row_pass(float *restrict acc, const float *restrict r, const float *restrict wk, int64_t K, int64_t S,
                        int64_t D, int64_t wo) {
    for (int64_t ox = 0; ox < wo; ox++) {
        float s = acc[ox];
        for (int64_t kx = 0; kx < K; kx++) s += wk[kx] * r[ox * S + kx * D];
        acc[ox] = s;
    }
}

/* all nine taps of a 3x3 kernel in one pass over three input rows */
EP_INLINE void row_pass_3x3(float *restrict acc, const float *restrict r0, const float *restrict r1,
                            const float *restrict r2, const float *restrict wk, int64_t S, int64_t D, int64_t wo) {
    const float w0 = wk[0], w1 = wk[1], w2 = wk[2], w3 = wk[3], w4 = wk[4], w5 = wk[5], w6 = wk[6], w7 = wk[7],
                w8 = wk[8];
    for (int64_t ox = 0; ox < wo; ox++) {
        const int64_t i = ox * S;
        float s = acc[ox];
        s += w0 * r0[i] + w1 * r0[i + D] + w2 * r0[i + 2 * D];
        s += w3 * r1[i] + w4 * r1[i + D] + w5 * r1[i + 2 * D];
        s += w6 * r2[i] + w7 * r2[i + D] + w8 * r2[i + 2 * D];
        acc[ox] = s;
    }
}

/* all K x K taps in one pass (K constant when inlined); rows `pitch` floats apart */
EP_INLINE void row_pass_kxk(float *restrict acc, const float *restrict top, int64_t pitch, const float *restrict wk,
                            int64_t K, int64_t S, int64_t D, int64_t wo) {
    for (int64_t ox = 0; ox < wo; ox++) {
        float s = acc[ox];
        for (int64_t ky = 0; ky < K; ky++)
            for (int64_t kx = 0; kx < K; kx++) s += wk[ky * K + kx] * top[ky * pitch + ox * S + kx * D];
        acc[ox] = s;
    }
}

/* two adjacent output rows of a stride-1, undilated K x K kernel at once: the K + 1 input rows they
 * read are loaded once for both (K - 1 of them are shared), which relieves the load ports */
EP_INLINE void row_pair_kxk(float *restrict acc0, float *restrict acc1, const float *restrict top, int64_t pitch,
                            const float *restrict wk, int64_t K, int64_t wo) {
    for (int64_t ox = 0; ox < wo; ox++) {
        float s0 = acc0[ox], s1 = acc1[ox];
        for (int64_t ky = 0; ky <= K; ky++)
            for (int64_t kx = 0; kx < K; kx++) {
                const float v = top[ky * pitch + ox + kx];
                if (ky < K) s0 += wk[ky * K + kx] * v;
                if (ky > 0) s1 += wk[(ky - 1) * K + kx] * v;
            }
        acc0[ox] = s0;
        acc1[ox] = s1;
    }
}

/* One output row: the taps of one input channel's padded plane `p` (row pitch wp) accumulated into acc. */
EP_INLINE void conv_row(float *restrict acc, const float *restrict p, int64_t wp, const float *restrict wk,
                        int64_t oy, int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t dh, int64_t dw,
                        int64_t wo) {
    const float *top = p + oy * sh * wp;
    if (kh == 3 && kw == 3) {
        const float *r0 = top, *r1 = top + dh * wp, *r2 = top + 2 * dh * wp;
        if (sw == 1 && dw == 1) row_pass_3x3(acc, r0, r1, r2, wk, 1, 1, wo);
        else if (sw == 2 && dw == 1) row_pass_3x3(acc, r0, r1, r2, wk, 2, 1, wo);
        else row_pass_3x3(acc, r0, r1, r2, wk, sw, dw, wo);
        return;
    }
    if (kh == 5 && kw == 5 && dw == 1 && (sw == 1 || sw == 2)) {
        if (sw == 1) row_pass_kxk(acc, top, dh * wp, wk, 5, 1, 1, wo);
        else row_pass_kxk(acc, top, dh * wp, wk, 5, 2, 1, wo);
        return;
    }
    for (int64_t ky = 0; ky < kh; ky++) {
        const float *r = top + ky * dh * wp;
        const float *wr = wk + ky * kw;
        if (kw == 3 && sw == 1 && dw == 1) row_pass(acc, r, wr, 3, 1, 1, wo);
        else if (kw == 5 && sw == 1 && dw == 1) row_pass(acc, r, wr, 5, 1, 1, wo);
        else if (kw == 7 && sw == 1 && dw == 1) row_pass(acc, r, wr, 7, 1, 1, wo);
        else if (kw == 3 && sw == 2) row_pass(acc, r, wr, 3, 2, dw, wo);
        else if (kw == 5 && sw == 2) row_pass(acc, r, wr, 5, 2, dw, wo);
        else if (kw == 7 && sw == 2) row_pass(acc, r, wr, 7, 2, dw, wo);
        else {
            for (int64_t kx = 0; kx < kw; kx++) row_pass(acc, r + kx * dw, wr + kx, 1, sw, 1, wo);
        }
    }
}

/* The stride-1 "wide" form: all output rows of one input channel as one long row over the padded
 * width (output row oy is wide[oy * wp, oy * wp + wo); the other columns are discarded). */
EP_INLINE void wide_plane(float *restrict wide, const float *restrict p, int64_t wp, const float *restrict wk,
                          int64_t kh, int64_t kw, int64_t dh, int64_t dw, int64_t ho, int64_t wo) {
    const int64_t len = (ho - 1) * wp + wo;
    if (kh == 3 && kw == 3 && dh == 1 && dw == 1) row_pass_3x3(wide, p, p + wp, p + 2 * wp, wk, 1, 1, len);
    else if (kh == 5 && kw == 5 && dh == 1 && dw == 1) row_pass_kxk(wide, p, wp, wk, 5, 1, 1, len);
    else conv_row(wide, p, wp, wk, 0, kh, kw, 1, 1, dh, dw, len);
}

typedef struct {
    const float *x, *w, *bias, *residual;
    float *y;
    int64_t n, c, h, wd, m, group, kh, kw, sh, sw, dh, dw, pt, pl, ho, wo;
    int act;
    float alpha, beta;
    int64_t hp, wp, blocks, block_rows, parts; /* padded plane; row blocks of an output plane */
    int wide_rows, pairs;
} direct_job;

/* Copy padded rows [r0, r1) of the group's cg input planes into the scratch planes (zeros outside the input). */
EP_INLINE void pad_rows(const direct_job *j, float *scratch, const float *src0, int64_t cg, int64_t r0, int64_t r1) {
    const int64_t wp = j->wp, plane = j->hp * wp, hw = j->h * j->wd;
    const int64_t y0 = j->pt, y1 = j->pt + j->h < j->hp ? j->pt + j->h : j->hp;
    const int64_t x0 = j->pl, x1 = j->pl + j->wd < wp ? j->pl + j->wd : wp;
    for (int64_t ci = 0; ci < cg; ci++) {
        float *p = scratch + ci * plane;
        const float *src = src0 + ci * hw;
        for (int64_t r = r0; r < r1; r++) {
            float *row = p + r * wp;
            if (r < y0 || r >= y1 || x1 <= x0) {
                memset(row, 0, (size_t)wp * sizeof(float));
                continue;
            }
            if (x0 > 0) memset(row, 0, (size_t)x0 * sizeof(float));
            memcpy(row + x0, src + (r - j->pt) * j->wd, (size_t)(x1 - x0) * sizeof(float));
            if (x1 < wp) memset(row + x1, 0, (size_t)(wp - x1) * sizeof(float));
        }
    }
}

/* Output rows [r0, r1) of every output channel of image b, group g; the input rows they read are
 * in the scratch planes. r0 is even (row pairs start at even rows whatever the split). */
EP_INLINE void direct_rows(const direct_job *j, float *scratch, float *wide, int64_t b, int64_t g, int64_t r0,
                           int64_t r1) {
    const int64_t cg = j->c / j->group, mg = j->m / j->group, kh = j->kh, kw = j->kw, wp = j->wp, wo = j->wo;
    const int64_t plane = j->hp * wp, taps = kh * kw;
    for (int64_t mo = g * mg; mo < (g + 1) * mg; mo++) {
        const float *wm = j->w + mo * cg * taps;
        const float bv = j->bias ? j->bias[mo] : 0.0f;
        float *out = j->y + (b * j->m + mo) * j->ho * wo;
        const float *res = j->residual ? j->residual + (b * j->m + mo) * j->ho * wo : NULL;
        if (wide) {
            /* stride 1, narrow rows: one long pass over the rows at once (output row oy is
             * wide[(oy - r0) * wp, (oy - r0) * wp + wo); the other wp - wo columns are discarded) */
            const int64_t len = (r1 - r0 - 1) * wp + wo;
            for (int64_t i = 0; i < len; i++) wide[i] = bv;
            for (int64_t ci = 0; ci < cg; ci++)
                wide_plane(wide, scratch + ci * plane + r0 * wp, wp, wm + ci * taps, kh, kw, j->dh, j->dw, r1 - r0,
                           wo);
        }
        for (int64_t oy = r0; oy < r1; oy++) {
            float *acc = out + oy * wo;
            if (wide) {
                memcpy(acc, wide + (oy - r0) * wp, (size_t)wo * sizeof(float));
            } else if (j->pairs && oy + 1 < r1 && oy % 2 == 0) {
                float *next = acc + wo;
                for (int64_t ox = 0; ox < wo; ox++) acc[ox] = next[ox] = bv;
                for (int64_t ci = 0; ci < cg; ci++)
                    row_pair_kxk(acc, next, scratch + ci * plane + oy * wp, wp, wm + ci * taps, 3, wo);
            } else if (!j->pairs || oy % 2 == 0 || oy == r0) {
                for (int64_t ox = 0; ox < wo; ox++) acc[ox] = bv;
                for (int64_t ci = 0; ci < cg; ci++)
                    conv_row(acc, scratch + ci * plane, wp, wm + ci * taps, oy, kh, kw, j->sh, j->sw, j->dh, j->dw,
                             wo);
            }
            if (res) {
                const float *rr = res + oy * wo;
                for (int64_t ox = 0; ox < wo; ox++) acc[ox] += rr[ox];
            }
            if (j->act != EP_ACT_NONE) ep_act_run(acc, acc, wo, j->act, j->alpha, j->beta);
        }
    }
}

/* One part: a run of (image, group, row block) items, with its own scratch planes. */
EP_DISPATCH
static int direct_part(void *ctx, int64_t part) {
    const direct_job *j = (const direct_job *)ctx;
    const int64_t cg = j->c / j->group, plane = j->hp * j->wp, items = j->n * j->group * j->blocks;
    int64_t i0, i1;
    ep_part_range(items, j->parts, part, 1, &i0, &i1);
    if (i0 >= i1) return 0;
    float *scratch = (float *)malloc((size_t)(cg * plane + (j->wide_rows ? plane : 0)) * sizeof(float));
    if (!scratch) return -1;
    float *wide = j->wide_rows ? scratch + cg * plane : NULL;
    for (int64_t it = i0; it < i1; it++) {
        const int64_t bg = it / j->blocks, blk = it % j->blocks, b = bg / j->group, g = bg % j->group;
        const int64_t r0 = blk * j->block_rows, r1 = r0 + j->block_rows < j->ho ? r0 + j->block_rows : j->ho;
        /* the padded rows those output rows read */
        const int64_t p0 = r0 * j->sh, p1e = (r1 - 1) * j->sh + (j->kh - 1) * j->dh + 1;
        pad_rows(j, scratch, j->x + (b * j->c + g * cg) * j->h * j->wd, cg, p0, p1e < j->hp ? p1e : j->hp);
        direct_rows(j, scratch, wide, b, g, r0, r1);
    }
    free(scratch);
    return 0;
}

/* output elements times taps a thread computes at least */
#define EP_CONV_GRAIN (1 << 17)

/* y (n, m, ho, wo) = act(conv(x, w) + bias + residual); x (n, c, h, wd), w (m, c / group, kh, kw).
 * pt / pl are the top / left pads (>= 0); the bottom / right pads are implied by ho / wo.
 * bias (m) and residual (same shape as y) may be NULL. The work is split over images, groups and,
 * when those are fewer than the threads, blocks of an even number of output rows. Returns 0, or -1
 * when the padded input does not fit in memory. */
EP_DISPATCH
int ep_conv2d_direct_f32(const float *x, const float *w, const float *bias, const float *residual, float *y,
                         int64_t n, int64_t c, int64_t h, int64_t wd, int64_t m, int64_t group,
                         int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t dh, int64_t dw,
                         int64_t pt, int64_t pl, int64_t ho, int64_t wo, int act, float alpha, float beta,
                         int64_t threads) {
    const int64_t cg = c / group;
    if (n == 0 || m == 0 || ho == 0 || wo == 0) return 0;
    direct_job j = {x, w, bias, residual, y, n, c, h, wd, m, group, kh, kw, sh, sw, dh, dw, pt, pl, ho, wo,
                    act, alpha, beta, 0, 0, 1, ho, 1, 0, 0};
    /* padded plane: every row and column a window can read */
    j.hp = (ho - 1) * sh + (kh - 1) * dh + 1;
    j.wp = (wo - 1) * sw + (kw - 1) * dw + 1;
    if (!ep_sizes_fit(cg + 1, j.hp, j.wp)) return -1;
    j.wide_rows = sh == 1 && sw == 1 && wo <= EP_WIDE_MAX_WIDTH;
    /* wide stride-1 maps, undilated 3x3 kernels: two output rows per pass (measured 1.4x on
     * 112-wide maps; no gain in the narrow "wide" form, a loss for 5x5 kernels, whose twice 25
     * weights do not fit in the vector registers) */
    j.pairs = !j.wide_rows && sh == 1 && sw == 1 && dh == 1 && dw == 1 && kh == 3 && kw == 3;
    const int64_t units = n * group;
    const double work = (double)units * (double)(m / group) * (double)cg * (double)(ho * wo) * (double)(kh * kw);
    const int64_t parts = ep_parts_for(threads, work > 9.0e15 ? (int64_t)9.0e15 : (int64_t)work, EP_CONV_GRAIN);
    if (parts > units && ho >= 4) {
        /* fewer images x groups than parts: split the output rows too, in blocks of an even count */
        const int64_t per_unit = (parts + units - 1) / units;
        int64_t rows = (ho + per_unit - 1) / per_unit;
        rows += rows % 2;
        j.block_rows = rows;
        j.blocks = (ho + rows - 1) / rows;
    }
    const int64_t items = units * j.blocks;
    j.parts = parts < items ? parts : items;
    if (j.parts == 1) return direct_part(&j, 0);
    return ep_parallel_for(threads, j.parts, direct_part, &j);
}

typedef struct {
    const float *x;
    float *cols;
    int64_t c, h, wd, kh, kw, sh, sw, dh, dw, pt, pl, wo, row0, row1, parts;
} im2col_job;

/* the columns of input channels [c0, c1) */
EP_DISPATCH
static int im2col_part(void *ctx, int64_t part) {
    const im2col_job *j = (const im2col_job *)ctx;
    const int64_t kh = j->kh, kw = j->kw, sw = j->sw, wd = j->wd, wo = j->wo, span = (j->row1 - j->row0) * wo;
    int64_t c0, c1;
    ep_part_range(j->c, j->parts, part, 1, &c0, &c1);
    for (int64_t ci = c0; ci < c1; ci++) {
        const float *plane = j->x + ci * j->h * wd;
        for (int64_t ky = 0; ky < kh; ky++) {
            for (int64_t kx = 0; kx < kw; kx++) {
                float *dst = j->cols + ((ci * kh + ky) * kw + kx) * span;
                /* output columns whose input column lies inside: ox0 <= ox < ox1 */
                const int64_t off = kx * j->dw - j->pl;
                int64_t ox0 = off >= 0 ? 0 : (-off + sw - 1) / sw;
                int64_t ox1 = wd - off <= 0 ? 0 : (wd - off + sw - 1) / sw;
                if (ox1 > wo) ox1 = wo;
                if (ox0 > ox1) ox0 = ox1;
                for (int64_t oy = j->row0; oy < j->row1; oy++) {
                    float *d = dst + (oy - j->row0) * wo;
                    const int64_t iy = oy * j->sh - j->pt + ky * j->dh;
                    if (iy < 0 || iy >= j->h) {
                        memset(d, 0, (size_t)wo * sizeof(float));
                        continue;
                    }
                    const float *src = plane + iy * wd;
                    for (int64_t ox = 0; ox < ox0; ox++) d[ox] = 0.0f;
                    if (sw == 1) memcpy(d + ox0, src + ox0 + off, (size_t)(ox1 - ox0) * sizeof(float));
                    else if (sw == 2) for (int64_t ox = ox0; ox < ox1; ox++) d[ox] = src[ox * 2 + off];
                    else for (int64_t ox = ox0; ox < ox1; ox++) d[ox] = src[ox * sw + off];
                    for (int64_t ox = ox1; ox < wo; ox++) d[ox] = 0.0f;
                }
            }
        }
    }
    return 0;
}

/* column values a thread copies at least */
#define EP_IM2COL_GRAIN (1 << 16)

/* cols (c * kh * kw, (row1 - row0) * wo) = the im2col columns of x (c, h, wd) for output rows
 * row0 <= oy < row1: row (ci, ky, kx), column (oy - row0) * wo + ox holds the input at
 * (oy * sh - pt + ky * dh, ox * sw - pl + kx * dw), zero outside. Then W (m, c * kh * kw) @ cols
 * is the convolution of those rows. Split over input channels. */
EP_DISPATCH
int ep_im2col_f32(const float *x, float *cols, int64_t c, int64_t h, int64_t wd, int64_t kh, int64_t kw,
                  int64_t sh, int64_t sw, int64_t dh, int64_t dw, int64_t pt, int64_t pl, int64_t wo,
                  int64_t row0, int64_t row1, int64_t threads) {
    im2col_job j = {x, cols, c, h, wd, kh, kw, sh, sw, dh, dw, pt, pl, wo, row0, row1, 1};
    const int64_t parts = ep_parts_for(threads, c * kh * kw * (row1 - row0) * wo, EP_IM2COL_GRAIN);
    j.parts = parts < c ? parts : c;
    if (j.parts <= 1) return im2col_part(&j, 0);
    return ep_parallel_for(threads, j.parts, im2col_part, &j);
}
