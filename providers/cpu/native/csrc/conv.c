/* Direct 2-D convolution for depthwise and small-group convolutions, NCHW, with a fused epilogue
 * (bias, residual add, activation), split over the session's threads (parallel.c). Dense
 * convolutions are sgemm.c's.
 *
 * For each image and group (and block of output rows, when the rows are split over threads) the
 * input rows it reads are copied into zero-padded scratch planes, so the inner loops have no bounds
 * checks: every output row is a sum of whole-row passes
 * (all taps of a 3x3 or 5x5 kernel in one pass, a fixed-width pass per kernel row for widths 3, 5 and 7,
 * one pass per tap otherwise), vectorised across output columns; at stride 1 narrow maps are
 * computed as one long row over the padded width, the padding columns discarded. The epilogue
 * runs on each output row while it is in L1.
 *
 * Depthwise convolutions on narrow maps (and strided 5x5 ones; on CPUs with AVX-512, whose register
 * transposes make the interleaving cheap, every map up to 64 columns) take the channel-block path (dw_run):
 * 16 channels interleaved in one padded scratch plane, the channel as the vector lane.
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

/* output elements times taps a thread computes at least, and below which a call runs on one thread (a
 * split call pays 40-60 us for waking a worker on a 2-core VM: mobilenet_v2 ran slower on two threads) */
#define EP_CONV_GRAIN (1 << 17)
#define EP_CONV_LEAST (1 << 20)

/* ---- Depthwise convolution of small maps, channels as the vector lanes ----
 * A block of EP_DW_LANES channels is transposed into one interleaved padded scratch plane
 * [hp][wp][EP_DW_LANES], so every tap is one vector multiply-add over the lanes whatever the map
 * width: no per-plane copy of short rows, no short rows to vectorise. Each output element is
 * bias + the taps in (ky, kx) order, then residual and activation, whichever lane, block or thread
 * computes it. Partial blocks (channel counts not a multiple of the lanes) leave the spare lanes
 * zero. */
#define EP_DW_LANES 16

#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
#include <immintrin.h>
/* 16 x 16 float transposes in AVX-512 registers (4 stages of one vpermt2ps per row, masked loads and stores
 * for partial rows) for the transposes into and out of the lanes. Only on CPUs with AVX-512 (tr16_ok); the
 * same shuffles emulated on 8-float vectors measured 2x slower than the scalar copies. */
#define EP_DW_TR16 1
/* with the register transposes, the channel blocks also take maps up to this many output columns */
#define EP_DW_TR16_MAX_WIDTH 64

/* one stage: rows i and i + S (bit S of i clear) exchange the blocks where bit S of the row and of the column
 * differ */
#define EP_DW_TR_STAGE(S, LO, HI)                                                         \
    do {                                                                                  \
        const __m512i lo = _mm512_setr_epi32 LO, hi = _mm512_setr_epi32 HI;               \
        for (int i = 0; i < 16; i++)                                                      \
            if (!(i & (S))) {                                                             \
                const __m512 a = r[i], b = r[i + (S)];                                    \
                r[i] = _mm512_permutex2var_ps(a, lo, b);                                  \
                r[i + (S)] = _mm512_permutex2var_ps(a, hi, b);                            \
            }                                                                             \
    } while (0)

/* dst row c (c < cols, dst_stride apart) = column c of src (rows < rows, src_stride apart; the rest read as
 * zero), its first `rows` values stored */
__attribute__((target("avx512f"))) static void dw_transpose16(const float *src, int64_t src_stride, int64_t rows,
                                                             float *dst, int64_t dst_stride, int64_t cols) {
    __m512 r[16];
    const __mmask16 in = (__mmask16)((1u << cols) - 1u), out = (__mmask16)((1u << rows) - 1u);
    for (int i = 0; i < 16; i++)
        r[i] = i < rows ? _mm512_maskz_loadu_ps(in, src + i * src_stride) : _mm512_setzero_ps();
    EP_DW_TR_STAGE(8, (0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23),
                   (8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31));
    EP_DW_TR_STAGE(4, (0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27),
                   (4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31));
    EP_DW_TR_STAGE(2, (0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29),
                   (2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31));
    EP_DW_TR_STAGE(1, (0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30),
                   (1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31));
    for (int64_t c = 0; c < cols; c++) _mm512_mask_storeu_ps(dst + c * dst_stride, out, r[c]);
}
#undef EP_DW_TR_STAGE

/* whether this CPU runs dw_transpose16 (AVX-512) */
static int tr16_ok(void) {
    static int ok = -1;
    if (ok < 0) {
        __builtin_cpu_init();
        ok = __builtin_cpu_supports("avx512f") ? 1 : 0;
    }
    return ok;
}
#endif

typedef struct {
    const float *x, *w, *bias, *residual;
    float *y;
    int64_t n, c, h, wd, kh, kw, sh, sw, dh, dw, pt, pl, ho, wo;
    int act;
    float alpha, beta;
    int64_t hp, wp, cblocks, blocks, block_rows, parts;
} dw_job;

/* Output pixels [ox0, ox0 + 4) of one output row: acc (4 x lanes) = bias + the taps; `top` is the
 * scratch row the kernel's first row reads, at column 0. K, S constant when inlined. */
EP_INLINE void dw_quad(float *restrict acc, const float *restrict top, int64_t rowp, const float *restrict wt,
                       const float *restrict bv, int64_t KH, int64_t KW, int64_t S, int64_t DH, int64_t DW,
                       int64_t ox0) {
    float a0[EP_DW_LANES], a1[EP_DW_LANES], a2[EP_DW_LANES], a3[EP_DW_LANES];
    for (int l = 0; l < EP_DW_LANES; l++) a0[l] = a1[l] = a2[l] = a3[l] = bv[l];
    for (int64_t ky = 0; ky < KH; ky++) {
        const float *r = top + ky * DH * rowp + ox0 * S * EP_DW_LANES;
        for (int64_t kx = 0; kx < KW; kx++) {
            const float *wv = wt + (ky * KW + kx) * EP_DW_LANES;
            const float *s = r + kx * DW * EP_DW_LANES;
            for (int l = 0; l < EP_DW_LANES; l++) {
                a0[l] += wv[l] * s[l];
                a1[l] += wv[l] * s[S * EP_DW_LANES + l];
                a2[l] += wv[l] * s[2 * S * EP_DW_LANES + l];
                a3[l] += wv[l] * s[3 * S * EP_DW_LANES + l];
            }
        }
    }
    for (int l = 0; l < EP_DW_LANES; l++) {
        acc[l] = a0[l];
        acc[EP_DW_LANES + l] = a1[l];
        acc[2 * EP_DW_LANES + l] = a2[l];
        acc[3 * EP_DW_LANES + l] = a3[l];
    }
}

/* one output pixel, the same arithmetic as one pixel of dw_quad */
EP_INLINE void dw_one(float *restrict acc, const float *restrict top, int64_t rowp, const float *restrict wt,
                      const float *restrict bv, int64_t KH, int64_t KW, int64_t S, int64_t DH, int64_t DW,
                      int64_t ox) {
    float a0[EP_DW_LANES];
    for (int l = 0; l < EP_DW_LANES; l++) a0[l] = bv[l];
    for (int64_t ky = 0; ky < KH; ky++) {
        const float *r = top + ky * DH * rowp + ox * S * EP_DW_LANES;
        for (int64_t kx = 0; kx < KW; kx++) {
            const float *wv = wt + (ky * KW + kx) * EP_DW_LANES;
            const float *s = r + kx * DW * EP_DW_LANES;
            for (int l = 0; l < EP_DW_LANES; l++) a0[l] += wv[l] * s[l];
        }
    }
    for (int l = 0; l < EP_DW_LANES; l++) acc[l] = a0[l];
}

/* one output row (wo x lanes) into acc */
EP_INLINE void dw_row(float *restrict acc, const float *restrict top, int64_t rowp, const float *restrict wt,
                      const float *restrict bv, int64_t KH, int64_t KW, int64_t S, int64_t DH, int64_t DW,
                      int64_t wo) {
    int64_t ox = 0;
    for (; ox + 4 <= wo; ox += 4) dw_quad(acc + ox * EP_DW_LANES, top, rowp, wt, bv, KH, KW, S, DH, DW, ox);
    for (; ox < wo; ox++) dw_one(acc + ox * EP_DW_LANES, top, rowp, wt, bv, KH, KW, S, DH, DW, ox);
}

/* Scratch rows [r0, r1) of the interleaved padded plane of channels [c0, c0 + nl) of image b. */
EP_INLINE void dw_pack(const dw_job *j, float *restrict scratch, int64_t b, int64_t c0, int64_t nl, int64_t r0,
                       int64_t r1) {
    const int64_t wp = j->wp, hw = j->h * j->wd;
    const int64_t x0 = j->pl, x1 = j->pl + j->wd < wp ? j->pl + j->wd : wp;
    const float *src = j->x + (b * j->c + c0) * hw;
    for (int64_t r = r0; r < r1; r++) {
        float *row = scratch + r * wp * EP_DW_LANES;
        const int64_t iy = r - j->pt;
        const int empty = iy < 0 || iy >= j->h || x1 <= x0;
        if (empty || nl < EP_DW_LANES) memset(row, 0, (size_t)(wp * EP_DW_LANES) * sizeof(float));
        if (empty) continue;
        if (x0 > 0) memset(row, 0, (size_t)(x0 * EP_DW_LANES) * sizeof(float));
        if (x1 < wp) memset(row + x1 * EP_DW_LANES, 0, (size_t)((wp - x1) * EP_DW_LANES) * sizeof(float));
#ifdef EP_DW_TR16
        if (nl == EP_DW_LANES && tr16_ok()) { /* 16 columns of the 16 channels at a time */
            const float *s = src + iy * j->wd;
            float *d = row + x0 * EP_DW_LANES;
            for (int64_t x = 0; x < x1 - x0; x += 16)
                dw_transpose16(s + x, hw, EP_DW_LANES, d + x * EP_DW_LANES, EP_DW_LANES,
                               x1 - x0 - x < 16 ? x1 - x0 - x : 16);
            continue;
        }
#endif
        if (nl == EP_DW_LANES) { /* written so that it vectorises along the lanes */
            const float *s = src + iy * j->wd;
            float *d = row + x0 * EP_DW_LANES;
            for (int64_t x = 0; x < x1 - x0; x++)
                for (int64_t l = 0; l < EP_DW_LANES; l++) d[x * EP_DW_LANES + l] = s[l * hw + x];
            continue;
        }
        for (int64_t l = 0; l < nl; l++) {
            const float *s = src + l * hw + iy * j->wd;
            float *d = row + x0 * EP_DW_LANES + l;
            for (int64_t x = 0; x < x1 - x0; x++) d[x * EP_DW_LANES] = s[x];
        }
    }
}

/* Output rows [r0, r1) of channels [c0 + lf, c0 + nl) of image b (the block holds channels [c0, c0 + nl));
 * the scratch rows they read are packed. */
EP_INLINE void dw_rows(const dw_job *j, const float *restrict scratch, float *restrict acc, const float *restrict wt,
                       const float *restrict bv, int64_t b, int64_t c0, int64_t lf, int64_t nl, int64_t r0,
                       int64_t r1) {
    const int64_t wo = j->wo, rowp = j->wp * EP_DW_LANES, kh = j->kh, kw = j->kw, sh = j->sh, sw = j->sw;
    for (int64_t oy = r0; oy < r1; oy++) {
        const float *top = scratch + oy * sh * rowp;
        const int undilated = j->dh == 1 && j->dw == 1;
        if (kh == 3 && kw == 3 && undilated && sw == 1) dw_row(acc, top, rowp, wt, bv, 3, 3, 1, 1, 1, wo);
        else if (kh == 3 && kw == 3 && undilated && sw == 2) dw_row(acc, top, rowp, wt, bv, 3, 3, 2, 1, 1, wo);
        else if (kh == 5 && kw == 5 && undilated && sw == 1) dw_row(acc, top, rowp, wt, bv, 5, 5, 1, 1, 1, wo);
        else if (kh == 5 && kw == 5 && undilated && sw == 2) dw_row(acc, top, rowp, wt, bv, 5, 5, 2, 1, 1, wo);
        else dw_row(acc, top, rowp, wt, bv, kh, kw, sw, j->dh, j->dw, wo);
        const int64_t first = b * j->c * j->ho * wo + c0 * j->ho * wo + oy * wo, plane = j->ho * wo;
        if (j->residual)
            for (int64_t l = lf; l < nl; l++) {
                const float *rr = j->residual + first + l * plane;
                for (int64_t ox = 0; ox < wo; ox++) acc[ox * EP_DW_LANES + l] += rr[ox];
            }
        if (j->act != EP_ACT_NONE) ep_act_run(acc, acc, wo * EP_DW_LANES, j->act, j->alpha, j->beta);
#ifdef EP_DW_TR16
        if (lf == 0 && nl == EP_DW_LANES && tr16_ok()) { /* 16 output pixels of the 16 channels at a time */
            for (int64_t ox = 0; ox < wo; ox += 16)
                dw_transpose16(acc + ox * EP_DW_LANES, EP_DW_LANES, wo - ox < 16 ? wo - ox : 16, j->y + first + ox,
                               plane, EP_DW_LANES);
            continue;
        }
#endif
        if (lf == 0 && nl == EP_DW_LANES && wo <= 16) { /* short rows: faster as scattered stores (measured) */
            float *out = j->y + first;
            for (int64_t ox = 0; ox < wo; ox++)
                for (int64_t l = 0; l < EP_DW_LANES; l++) out[l * plane + ox] = acc[ox * EP_DW_LANES + l];
            continue;
        }
        for (int64_t l = lf; l < nl; l++) {
            float *out = j->y + first + l * plane;
            for (int64_t ox = 0; ox < wo; ox++) out[ox] = acc[ox * EP_DW_LANES + l];
        }
    }
}

/* One part: a run of (image, channel block, row block) items, with its own scratch. */
EP_DISPATCH
static int dw_part(void *ctx, int64_t part) {
    const dw_job *j = (const dw_job *)ctx;
    const int64_t taps = j->kh * j->kw, items = j->n * j->cblocks * j->blocks;
    int64_t i0, i1;
    ep_part_range(items, j->parts, part, 1, &i0, &i1);
    if (i0 >= i1) return 0;
    /* scratch plane, one output row, the transposed weights and bias of a block */
    const size_t floats = (size_t)((j->hp * j->wp + j->wo + taps + 1) * EP_DW_LANES);
    float *scratch = (float *)malloc(floats * sizeof(float));
    if (!scratch) return -1;
    float *acc = scratch + j->hp * j->wp * EP_DW_LANES, *wt = acc + j->wo * EP_DW_LANES;
    float *bv = wt + taps * EP_DW_LANES;
    int64_t loaded = -1;
    for (int64_t it = i0; it < i1; it++) {
        const int64_t bc = it / j->blocks, blk = it % j->blocks, b = bc / j->cblocks, cb = bc % j->cblocks;
        /* the last block of a channel count that is not a multiple of the lanes: with at least a full
         * block of channels, it is the last EP_DW_LANES channels, of which it writes the ones no other
         * block does (lanes [lf, EP_DW_LANES)); else a partial block, its spare lanes zero */
        int64_t c0 = cb * EP_DW_LANES, lf = 0;
        if (c0 + EP_DW_LANES > j->c && j->c >= EP_DW_LANES) {
            lf = c0 - (j->c - EP_DW_LANES);
            c0 = j->c - EP_DW_LANES;
        }
        const int64_t nl = j->c - c0 < EP_DW_LANES ? j->c - c0 : EP_DW_LANES;
        if (cb != loaded) {
            for (int64_t t = 0; t < taps; t++)
                for (int64_t l = 0; l < EP_DW_LANES; l++)
                    wt[t * EP_DW_LANES + l] = l < nl ? j->w[(c0 + l) * taps + t] : 0.0f;
            for (int64_t l = 0; l < EP_DW_LANES; l++) bv[l] = l < nl && j->bias ? j->bias[c0 + l] : 0.0f;
            loaded = cb;
        }
        const int64_t r0 = blk * j->block_rows, r1 = r0 + j->block_rows < j->ho ? r0 + j->block_rows : j->ho;
        const int64_t p0 = r0 * j->sh, p1e = (r1 - 1) * j->sh + (j->kh - 1) * j->dh + 1;
        dw_pack(j, scratch, b, c0, nl, p0, p1e < j->hp ? p1e : j->hp);
        dw_rows(j, scratch, acc, wt, bv, b, c0, lf, nl, r0, r1);
    }
    free(scratch);
    return 0;
}


/* Depthwise (one input and one output channel per group) over channel blocks; split like the
 * direct kernel, over images x channel blocks and, when those are fewer than the parts, row blocks. */
static int dw_run(const float *x, const float *w, const float *bias, const float *residual, float *y, int64_t n,
                  int64_t c, int64_t h, int64_t wd, int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t dh,
                  int64_t dw, int64_t pt, int64_t pl, int64_t ho, int64_t wo, int act, float alpha, float beta,
                  int64_t threads) {
    dw_job j = {x, w, bias, residual, y, n, c, h, wd, kh, kw, sh, sw, dh, dw, pt, pl, ho, wo, act, alpha, beta,
                0, 0, 0, 1, ho, 1};
    j.hp = (ho - 1) * sh + (kh - 1) * dh + 1;
    j.wp = (wo - 1) * sw + (kw - 1) * dw + 1;
    if (!ep_sizes_fit(EP_DW_LANES, j.hp + 2, j.wp + kh * kw + 1)) return -1;
    j.cblocks = (c + EP_DW_LANES - 1) / EP_DW_LANES;
    const int64_t units = n * j.cblocks;
    const double work = (double)n * (double)c * (double)(ho * wo) * (double)(kh * kw);
    const int64_t parts =
        ep_parts_from(threads, work > 9.0e15 ? (int64_t)9.0e15 : (int64_t)work, EP_CONV_GRAIN, EP_CONV_LEAST);
    if (parts > units && ho >= 2) {
        const int64_t per_unit = (parts + units - 1) / units;
        j.block_rows = (ho + per_unit - 1) / per_unit;
        j.blocks = (ho + j.block_rows - 1) / j.block_rows;
    }
    const int64_t items = units * j.blocks;
    j.parts = parts < items ? parts : items;
    if (j.parts == 1) return dw_part(&j, 0);
    return ep_parallel_for(threads, j.parts, dw_part, &j);
}


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
    /* channel blocks: measured faster (AVX-512 and AVX2) on outputs up to 16 wide, up to 32 wide with
     * a column stride above 1 or 5x5 and larger kernels, and up to 64 wide for those kernels at stride 2
     * (2x at 56); about a tie for 3x3 kernels on 28 (stride 1) and 56 (stride 2) columns, slower on 112 */
    const int64_t taps = kh * kw;
    int blocks = wo <= 16 || (wo <= 32 && (sw > 1 || taps >= 25)) || (wo <= 64 && sw > 1 && taps >= 25);
#ifdef EP_DW_TR16
    /* with the transposes in registers, also 3x3 maps of 17 to 64 columns (measured 1.07-1.25x at 28 and 56) */
    if (tr16_ok() && wo <= EP_DW_TR16_MAX_WIDTH) blocks = 1;
#endif
    if (group == c && m == c && blocks)
        return dw_run(x, w, bias, residual, y, n, c, h, wd, kh, kw, sh, sw, dh, dw, pt, pl, ho, wo, act, alpha, beta,
                      threads);
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
    const int64_t parts =
        ep_parts_from(threads, work > 9.0e15 ? (int64_t)9.0e15 : (int64_t)work, EP_CONV_GRAIN, EP_CONV_LEAST);
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
