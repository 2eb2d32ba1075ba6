/* Integer GEMM of the quantized operators (MatMulInteger, ConvInteger, QLinearMatMul, QLinearConv,
 * MatMulIntegerToFloat, DynamicQuantizeMatMul), the byte patches of ConvInteger, and DynamicQuantizeLinear.
 *
 * C[i][j] = sum_k (u[i][k] - zu_i) * (s[k][j] - zs_j) with u unsigned bytes (m rows of k) and s signed
 * bytes (the caller flips the top bit of the other byte types and shifts the zero points to match).
 * Zero points stay out of the inner loop:
 *   C = sum u s - zs_j * sum_k u[i][k] - zu_i * sum_k s[k][j] + k * zu_i * zs_j.
 * s is packed in panels of 16 columns, 4 consecutive k of a column in 4 consecutive bytes, so that one
 * step of the micro-kernel is a 4-byte broadcast of u times a 64-byte load of s: VPDPBUSD (AVX-512
 * VNNI, intrinsics in a function compiled for it and picked at run time: about 100-230 GMAC/s on one
 * core). Without VNNI, an AVX2 kernel widens s to int16 and uses VPMADDWD (about 40 GMAC/s); elsewhere
 * a portable kernel in plain C, auto-vectorised in one clone per instruction set (target_clones),
 * computes the same sums. k is padded with zero bytes to a multiple of 4.
 *
 * Every sum is taken modulo 2^32 (VPDPBUSD's and VPADDD's lanes wrap; the portable kernel sums in
 * uint32: no undefined overflow), so the int32 result is the exact sum reduced modulo 2^32, what ONNX's int32
 * output holds and the numpy kernel computes, for any k; integer arithmetic is exact, so every kernel,
 * clone and thread count gives the same bits. A float epilogue (y = float(C) * mult_j, then + bias_j,
 * two roundings as numpy does them) serves the operators with float outputs.
 */
#include <math.h>
#include <stdlib.h>

#include "ep_native.h"

/* columns of s per panel; a panel holds, for each group of 4 k, 16 columns x 4 bytes (64 bytes) */
#define EP_QPANEL 16
/* multiply-adds a thread takes at least */
#define EP_QGEMM_GRAIN (1 << 20)
#define EP_QBYTE_GRAIN (1 << 16)
/* bytes (floats for DynamicQuantizeLinear) below which those byte passes run on one thread */
#define EP_QBYTE_LEAST (1 << 20)
/* rows of u per micro-kernel call (VNNI: 6 rows x 2 panels = 12 zmm accumulators; portable: 4 rows) */
#define EP_QMR_VNNI 6
#define EP_QMR 4

/* the AVX2 and AVX-512 VNNI kernels: intrinsics in functions compiled for those targets */
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 11 && defined(__x86_64__) && !defined(EP_NO_CLONES)
#define EP_QGEMM_X86 1
#include <immintrin.h>
#endif

typedef struct {
    const uint8_t *u; /* m rows of kp bytes, ldu apart, zero past k */
    const int8_t *s;  /* ceil(n / 16) panels of kp * 16 bytes (ep_qpack_panels' layout), zero past k and n */
    int64_t ldu, m, n, k, kp;
    const int32_t *usum, *ssum;   /* sum of each u row (m), of each s column (n), modulo 2^32 */
    const int32_t *uzero, *szero; /* zero point of u row i: uzero[i * uzero_step]; of s column j likewise */
    int64_t uzero_step, szero_step;
    void *c; /* int32 or float rows of n, ldc apart */
    int64_t ldc;
    const float *mult, *bias; /* float output: c = float(C) * mult[j] (then + bias[j]); NULL mult: int32 */
    int64_t parts, by_rows;
} qgemm_job;

/* the zero-point correction of row i is zs_j * r_i - zu_i * ssum_j with r_i = k zu_i - usum_i (mod 2^32) */
EP_INLINE uint32_t row_term(const qgemm_job *g, int64_t i) {
    const uint32_t zu = g->uzero ? (uint32_t)g->uzero[i * g->uzero_step] : 0u;
    return (uint32_t)g->k * zu - (uint32_t)g->usum[i];
}

/* ------------------------------------------------------------------ portable micro-kernel */

/* rows [i, i + mr) x panel jp: dot products summed modulo 2^32 (unsigned: no undefined overflow) */
EP_INLINE void micro_portable(const qgemm_job *g, int64_t i, int64_t mr, int64_t jp) {
    uint32_t acc[EP_QMR][EP_QPANEL];
    for (int64_t r = 0; r < EP_QMR; r++)
        for (int64_t jj = 0; jj < EP_QPANEL; jj++) acc[r][jj] = 0;
    const int8_t *panel = g->s + jp * g->kp * EP_QPANEL;
    for (int64_t k4 = 0; k4 < g->kp / 4; k4++) {
        const int8_t *p = panel + k4 * 4 * EP_QPANEL;
        for (int64_t r = 0; r < mr; r++) {
            const uint8_t *a = g->u + (i + r) * g->ldu + k4 * 4;
            const int32_t a0 = a[0], a1 = a[1], a2 = a[2], a3 = a[3];
            for (int64_t jj = 0; jj < EP_QPANEL; jj++)
                acc[r][jj] += (uint32_t)(a0 * p[4 * jj] + a1 * p[4 * jj + 1] + a2 * p[4 * jj + 2] + a3 * p[4 * jj + 3]);
        }
    }
    const int64_t j0 = jp * EP_QPANEL, nv = g->n - j0 < EP_QPANEL ? g->n - j0 : EP_QPANEL;
    for (int64_t r = 0; r < mr; r++) {
        const uint32_t rt = row_term(g, i + r);
        const uint32_t zu = g->uzero ? (uint32_t)g->uzero[(i + r) * g->uzero_step] : 0u;
        for (int64_t jj = 0; jj < nv; jj++) {
            const int64_t j = j0 + jj;
            const uint32_t zs = g->szero ? (uint32_t)g->szero[j * g->szero_step] : 0u;
            const uint32_t v = acc[r][jj] + zs * rt - zu * (uint32_t)g->ssum[j];
            const int32_t y = v >= 0x80000000u ? (int32_t)((int64_t)v - 0x100000000LL) : (int32_t)v;
            if (g->mult) ((float *)g->c)[(i + r) * g->ldc + j] = (float)y * g->mult[j];
            else ((int32_t *)g->c)[(i + r) * g->ldc + j] = y;
        }
        if (g->mult && g->bias) { /* after the product is stored: two roundings, as numpy does them */
            float *y = (float *)g->c + (i + r) * g->ldc + j0;
            for (int64_t jj = 0; jj < nv; jj++) y[jj] += g->bias[j0 + jj];
        }
    }
}

EP_INLINE void range_portable(const qgemm_job *g, int64_t i0, int64_t i1, int64_t jp0, int64_t jp1) {
    for (int64_t jp = jp0; jp < jp1; jp++) {
        int64_t i = i0;
        for (; i + EP_QMR <= i1; i += EP_QMR) micro_portable(g, i, EP_QMR, jp);
        for (; i < i1; i++) micro_portable(g, i, 1, jp);
    }
}

/* ------------------------------------------------------------------ AVX-512 VNNI micro-kernel */

#ifdef EP_QGEMM_X86
#define EP_VNNI_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")))

/* rows [i, i + MR) x panels jp, jp + 1 (NP of them): each step of 4 k is one 64-byte load per panel,
 * a 4-byte broadcast per row and MR * NP VPDPBUSD (whose int32 lanes wrap: the sums are exact modulo
 * 2^32 for any k); the epilogue adds the zero-point correction and stores the valid columns (masks). */
EP_INLINE EP_VNNI_TARGET void micro_vnni(const qgemm_job *g, int64_t i, int MR, int64_t jp, int NP) {
    __m512i acc[EP_QMR_VNNI][2];
    for (int r = 0; r < MR; r++)
        for (int p = 0; p < NP; p++) acc[r][p] = _mm512_setzero_si512();
    const int8_t *b0 = g->s + jp * g->kp * EP_QPANEL;
    const int8_t *b1 = b0 + g->kp * EP_QPANEL;
    const uint8_t *a = g->u + i * g->ldu;
    const int64_t steps = g->kp / 4, ldu = g->ldu;
    for (int64_t k4 = 0; k4 < steps; k4++) {
        const __m512i v0 = _mm512_loadu_si512((const void *)(b0 + k4 * 64));
        const __m512i v1 = NP > 1 ? _mm512_loadu_si512((const void *)(b1 + k4 * 64)) : v0;
        for (int r = 0; r < MR; r++) {
            int32_t word;
            memcpy(&word, a + r * ldu + k4 * 4, 4);
            const __m512i av = _mm512_set1_epi32(word);
            acc[r][0] = _mm512_dpbusd_epi32(acc[r][0], av, v0);
            if (NP > 1) acc[r][1] = _mm512_dpbusd_epi32(acc[r][1], av, v1);
        }
    }
    for (int p = 0; p < NP; p++) {
        const int64_t j0 = (jp + p) * EP_QPANEL, nv = g->n - j0 < EP_QPANEL ? g->n - j0 : EP_QPANEL;
        const __mmask16 mask = (__mmask16)((1u << nv) - 1u);
        const __m512i zs = g->szero == NULL ? _mm512_setzero_si512()
                           : g->szero_step ? _mm512_maskz_loadu_epi32(mask, g->szero + j0)
                                           : _mm512_set1_epi32(g->szero[0]);
        const __m512i ss = _mm512_maskz_loadu_epi32(mask, g->ssum + j0);
        __m512 mult = _mm512_setzero_ps(), bias = _mm512_setzero_ps();
        if (g->mult) mult = _mm512_maskz_loadu_ps(mask, g->mult + j0);
        if (g->mult && g->bias) bias = _mm512_maskz_loadu_ps(mask, g->bias + j0);
        for (int r = 0; r < MR; r++) {
            const int32_t zu = g->uzero ? g->uzero[(i + r) * g->uzero_step] : 0;
            const __m512i corr = _mm512_sub_epi32(_mm512_mullo_epi32(zs, _mm512_set1_epi32((int32_t)row_term(g, i + r))),
                                                  _mm512_mullo_epi32(_mm512_set1_epi32(zu), ss));
            const __m512i v = _mm512_add_epi32(acc[r][p], corr);
            if (g->mult) {
                /* the _round_ forms are never contracted into an FMA: two roundings, as numpy does them */
                __m512 y = _mm512_mul_round_ps(_mm512_cvtepi32_ps(v), mult, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
                if (g->bias) y = _mm512_add_round_ps(y, bias, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
                _mm512_mask_storeu_ps((float *)g->c + (i + r) * g->ldc + j0, mask, y);
            } else {
                _mm512_mask_storeu_epi32((int32_t *)g->c + (i + r) * g->ldc + j0, mask, v);
            }
        }
    }
}

#define EP_VNNI_ROWS(NP)                                                                        \
    switch (i1 - i) {                                                                           \
    case 1: micro_vnni(g, i, 1, jp, NP); break;                                                 \
    case 2: micro_vnni(g, i, 2, jp, NP); break;                                                 \
    case 3: micro_vnni(g, i, 3, jp, NP); break;                                                 \
    case 4: micro_vnni(g, i, 4, jp, NP); break;                                                 \
    case 5: micro_vnni(g, i, 5, jp, NP); break;                                                 \
    default: micro_vnni(g, i, 6, jp, NP); break;                                                \
    }

EP_VNNI_TARGET static void range_vnni(const qgemm_job *g, int64_t i0, int64_t i1, int64_t jp0, int64_t jp1) {
    for (int64_t jp = jp0; jp < jp1; jp += 2) {
        for (int64_t i = i0; i < i1; i += EP_QMR_VNNI) {
            if (jp + 1 < jp1) {
                EP_VNNI_ROWS(2)
            } else {
                EP_VNNI_ROWS(1)
            }
        }
    }
}
#endif

/* ------------------------------------------------------------------ AVX2 micro-kernel */

#ifdef EP_QGEMM_X86
/* AVX2 alone (no FMA: the float epilogue's multiply and add stay two roundings) */
#define EP_AVX2_TARGET __attribute__((target("avx2")))

/* rows [i, i + MR) x panel jp (MR 1 or 2): each step of 4 k widens the panel's 64 bytes to four vectors
 * of 4 columns x 4 k int16 and multiplies them by the row's 4 bytes (int16, repeated) with VPMADDWD:
 * exact pair sums (|255 * 128 * 2| < 2^31), added in wrapping int32 lanes; each column's two pair sums
 * are added in the epilogue. */
EP_INLINE EP_AVX2_TARGET void micro_avx2(const qgemm_job *g, int64_t i, int MR, int64_t jp) {
    __m256i acc[2][4];
    for (int r = 0; r < MR; r++)
        for (int q = 0; q < 4; q++) acc[r][q] = _mm256_setzero_si256();
    const int8_t *panel = g->s + jp * g->kp * EP_QPANEL;
    const uint8_t *a = g->u + i * g->ldu;
    const int64_t steps = g->kp / 4, ldu = g->ldu;
    for (int64_t k4 = 0; k4 < steps; k4++) {
        const int8_t *p = panel + k4 * 64;
        __m256i v[4];
        for (int q = 0; q < 4; q++) v[q] = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(p + 16 * q)));
        for (int r = 0; r < MR; r++) {
            const uint8_t *ar = a + r * ldu + k4 * 4;
            const uint64_t word = (uint64_t)ar[0] | (uint64_t)ar[1] << 16 | (uint64_t)ar[2] << 32 | (uint64_t)ar[3] << 48;
            const __m256i av = _mm256_set1_epi64x((long long)word);
            for (int q = 0; q < 4; q++) acc[r][q] = _mm256_add_epi32(acc[r][q], _mm256_madd_epi16(v[q], av));
        }
    }
    const int64_t j0 = jp * EP_QPANEL, nv = g->n - j0 < EP_QPANEL ? g->n - j0 : EP_QPANEL;
    for (int h = 0; h < 2; h++) { /* columns j0 + 8h .. j0 + 8h + 7 */
        const int64_t jh = j0 + 8 * h, nh = nv - 8 * h < 0 ? 0 : nv - 8 * h > 8 ? 8 : nv - 8 * h;
        if (nh == 0) break;
        const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32((int32_t)nh), lane);
        const __m256i zs = g->szero == NULL ? _mm256_setzero_si256()
                           : g->szero_step ? _mm256_maskload_epi32(g->szero + jh, mask)
                                           : _mm256_set1_epi32(g->szero[0]);
        const __m256i ss = _mm256_maskload_epi32(g->ssum + jh, mask);
        __m256 mult = _mm256_setzero_ps(), bias = _mm256_setzero_ps();
        if (g->mult) mult = _mm256_maskload_ps(g->mult + jh, mask);
        if (g->mult && g->bias) bias = _mm256_maskload_ps(g->bias + jh, mask);
        for (int r = 0; r < MR; r++) {
            /* [c0 c1 c4 c5 | c2 c3 c6 c7] -> [c0 .. c7] */
            const __m256i sums = _mm256_permute4x64_epi64(_mm256_hadd_epi32(acc[r][2 * h], acc[r][2 * h + 1]), 0xD8);
            const int32_t zu = g->uzero ? g->uzero[(i + r) * g->uzero_step] : 0;
            const __m256i corr = _mm256_sub_epi32(_mm256_mullo_epi32(zs, _mm256_set1_epi32((int32_t)row_term(g, i + r))),
                                                  _mm256_mullo_epi32(_mm256_set1_epi32(zu), ss));
            const __m256i y = _mm256_add_epi32(sums, corr);
            if (g->mult) {
                __m256 f = _mm256_mul_ps(_mm256_cvtepi32_ps(y), mult);
                if (g->bias) f = _mm256_add_ps(f, bias);
                _mm256_maskstore_ps((float *)g->c + (i + r) * g->ldc + jh, mask, f);
            } else {
                _mm256_maskstore_epi32((int *)((int32_t *)g->c + (i + r) * g->ldc + jh), mask, y);
            }
        }
    }
}

EP_AVX2_TARGET static void range_avx2(const qgemm_job *g, int64_t i0, int64_t i1, int64_t jp0, int64_t jp1) {
    for (int64_t jp = jp0; jp < jp1; jp++) {
        int64_t i = i0;
        for (; i + 2 <= i1; i += 2) micro_avx2(g, i, 2, jp);
        if (i < i1) micro_avx2(g, i, 1, jp);
    }
}
#endif

/* ------------------------------------------------------------------ dispatch */

enum { EP_QGEMM_KERNEL_AUTO = 0, EP_QGEMM_KERNEL_PORTABLE = 1, EP_QGEMM_KERNEL_AVX2 = 2, EP_QGEMM_KERNEL_VNNI = 3 };
static int qgemm_forced;

static int qgemm_best(void) {
#ifdef EP_QGEMM_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
        return EP_QGEMM_KERNEL_VNNI;
    if (__builtin_cpu_supports("avx2")) return EP_QGEMM_KERNEL_AVX2;
#endif
    return EP_QGEMM_KERNEL_PORTABLE;
}

/* Use kernel `level` (1 portable, 2 AVX2, 3 AVX-512 VNNI; 0 the best the CPU has) from now on, for tests of
 * every kernel on one machine. Returns the level now in use, or -1 (nothing changed) for a level this
 * CPU or build cannot run. */
int ep_qgemm_force_kernel(int level) {
    if (level < 0 || level > EP_QGEMM_KERNEL_VNNI || level > qgemm_best()) return -1;
    qgemm_forced = level;
    return level ? level : qgemm_best();
}

/* the portable kernel in one clone per instruction set */
EP_DISPATCH static int qgemm_part_portable(void *ctx, int64_t part) {
    const qgemm_job *g = (const qgemm_job *)ctx;
    const int64_t panels = (g->n + EP_QPANEL - 1) / EP_QPANEL;
    int64_t b, e;
    if (g->by_rows) {
        ep_part_range(g->m, g->parts, part, EP_QMR, &b, &e);
        if (b < e) range_portable(g, b, e, 0, panels);
    } else {
        ep_part_range(panels, g->parts, part, 1, &b, &e);
        if (b < e) range_portable(g, 0, g->m, b, e);
    }
    return 0;
}

#ifdef EP_QGEMM_X86
static int qgemm_part_vnni(void *ctx, int64_t part) {
    const qgemm_job *g = (const qgemm_job *)ctx;
    const int64_t panels = (g->n + EP_QPANEL - 1) / EP_QPANEL;
    int64_t b, e;
    if (g->by_rows) {
        ep_part_range(g->m, g->parts, part, EP_QMR_VNNI, &b, &e);
        if (b < e) range_vnni(g, b, e, 0, panels);
    } else {
        ep_part_range(panels, g->parts, part, 2, &b, &e);
        if (b < e) range_vnni(g, 0, g->m, b, e);
    }
    return 0;
}

static int qgemm_part_avx2(void *ctx, int64_t part) {
    const qgemm_job *g = (const qgemm_job *)ctx;
    const int64_t panels = (g->n + EP_QPANEL - 1) / EP_QPANEL;
    int64_t b, e;
    if (g->by_rows) {
        ep_part_range(g->m, g->parts, part, 2, &b, &e);
        if (b < e) range_avx2(g, b, e, 0, panels);
    } else {
        ep_part_range(panels, g->parts, part, 2, &b, &e);
        if (b < e) range_avx2(g, 0, g->m, b, e);
    }
    return 0;
}
#endif

/* c (m x n, rows ldc apart) = sum over k < kp of (u[i][k] - zu_i)(s[k][j] - zs_j) with u m rows of kp bytes
 * (ldu apart) and s packed by ep_qpack_panels; int32 modulo 2^32, or with mult float32 float(C) * mult[j]
 * (+ bias[j]). kp is a multiple of 4; the bytes past k in both are zero. usum / ssum: row / column sums. */
int ep_qgemm_u8s8(const uint8_t *u, int64_t ldu, const int8_t *s, int64_t m, int64_t n, int64_t k, int64_t kp,
                  const int32_t *usum, const int32_t *ssum, const int32_t *uzero, int64_t uzero_step,
                  const int32_t *szero, int64_t szero_step, void *c, int64_t ldc, const float *mult,
                  const float *bias, int64_t threads) {
    if (m <= 0 || n <= 0) return 0;
    if (kp < 0 || kp % 4 || ldu < kp) return -2;
    qgemm_job g = {u, s, ldu, m, n, k, kp, usum, ssum, uzero, szero, uzero_step, szero_step, c, ldc, mult, bias, 1, 0};
    const int level = qgemm_forced ? qgemm_forced : qgemm_best();
    const int64_t panels = (n + EP_QPANEL - 1) / EP_QPANEL;
    g.by_rows = m > n;
    const int64_t units = g.by_rows ? (m + EP_QMR_VNNI - 1) / EP_QMR_VNNI : (panels + 1) / 2;
    const int64_t parts = ep_parts_for(threads, m * n * (kp > 0 ? kp : 1), EP_QGEMM_GRAIN);
    g.parts = parts < units ? parts : units;
    if (g.parts < 1) g.parts = 1;
    ep_part_fn fn = qgemm_part_portable;
#ifdef EP_QGEMM_X86
    if (level == EP_QGEMM_KERNEL_VNNI) fn = qgemm_part_vnni;
    if (level == EP_QGEMM_KERNEL_AVX2) fn = qgemm_part_avx2;
#else
    (void)level;
#endif
    if (g.parts <= 1) return fn(&g, 0);
    return ep_parallel_for(threads, g.parts, fn, &g);
}

/* ------------------------------------------------------------------ packing and sums */

/* panels (ceil(n / 16) * kp * 16 bytes) = the n rows of k bytes of `rows` (ld apart) in the GEMM's
 * layout: panel jp, group k4 of 4 k, column jj at jp * kp * 16 + k4 * 64 + jj * 4; zero past k and n.
 * sums[j] (n values, if not NULL) = the sum of row j as signed bytes, modulo 2^32. */
typedef struct {
    const int8_t *rows;
    int8_t *panels;
    int32_t *sums;
    int64_t n, k, ld, kp, parts;
} pack_job;

/* one panel from up to 16 rows of k bytes (ld apart; nv of them valid): 4-byte groups copied whole,
 * zeros past k and past the valid rows; sums[jj] = the signed sum of row jj modulo 2^32 */
/* sums[jj] (jj < nv) = the sum of column jj of a packed panel (kp bytes each), modulo 2^32: 64 lanes summed
 * element-wise over the panel's 64-byte groups, then each column's 4 lanes */
EP_INLINE void panel_sums(const int8_t *panel, int64_t kp, int64_t nv, int32_t *sums) {
    uint32_t lanes[4 * EP_QPANEL];
    for (int l = 0; l < 4 * EP_QPANEL; l++) lanes[l] = 0;
    for (int64_t k4 = 0; k4 < kp / 4; k4++)
        for (int l = 0; l < 4 * EP_QPANEL; l++) lanes[l] += (uint32_t)(int32_t)panel[k4 * 4 * EP_QPANEL + l];
    for (int64_t jj = 0; jj < nv; jj++) {
        const uint32_t t = lanes[4 * jj] + lanes[4 * jj + 1] + lanes[4 * jj + 2] + lanes[4 * jj + 3];
        sums[jj] = (int32_t)(t >= 0x80000000u ? (int64_t)t - 0x100000000LL : (int64_t)t);
    }
}

EP_INLINE void pack_panel(const int8_t *rows, int64_t ld, int64_t nv, int64_t k, int64_t kp, int8_t *dst,
                          int32_t *sums) {
    memset(dst, 0, (size_t)(kp * EP_QPANEL));
    const int64_t whole = k / 4;
    for (int64_t jj = 0; jj < nv; jj++) {
        const int8_t *row = rows + jj * ld;
        for (int64_t k4 = 0; k4 < whole; k4++) memcpy(dst + k4 * 4 * EP_QPANEL + jj * 4, row + k4 * 4, 4);
        for (int64_t kk = whole * 4; kk < k; kk++) dst[whole * 4 * EP_QPANEL + jj * 4 + (kk - whole * 4)] = row[kk];
    }
    if (sums) panel_sums(dst, kp, nv, sums);
}

EP_DISPATCH static int pack_part(void *ctx, int64_t part) {
    const pack_job *j = (const pack_job *)ctx;
    const int64_t panels = (j->n + EP_QPANEL - 1) / EP_QPANEL;
    int64_t b, e;
    ep_part_range(panels, j->parts, part, 1, &b, &e);
    for (int64_t jp = b; jp < e; jp++) {
        const int64_t nv = j->n - jp * EP_QPANEL < EP_QPANEL ? j->n - jp * EP_QPANEL : EP_QPANEL;
        pack_panel(j->rows + jp * EP_QPANEL * j->ld, j->ld, nv, j->k, j->kp, j->panels + jp * j->kp * EP_QPANEL,
                   j->sums ? j->sums + jp * EP_QPANEL : NULL);
    }
    return 0;
}

int ep_qpack_panels(const int8_t *rows, int64_t n, int64_t k, int64_t ld, int64_t kp, int8_t *panels, int32_t *sums,
                    int64_t threads) {
    if (n <= 0) return 0;
    if (kp < k || kp % 4) return -2;
    pack_job j = {rows, panels, sums, n, k, ld, kp, 1};
    const int64_t units = (n + EP_QPANEL - 1) / EP_QPANEL;
    const int64_t parts = ep_parts_from(threads, n * (kp > 0 ? kp : 1), EP_QBYTE_GRAIN, EP_QBYTE_LEAST);
    j.parts = parts < units ? parts : units;
    if (j.parts <= 1) return pack_part(&j, 0);
    return ep_parallel_for(threads, j.parts, pack_part, &j);
}

/* sums[r] = the sum of row r (k bytes, unsigned or signed, rows ld apart), modulo 2^32 */
typedef struct {
    const uint8_t *x;
    int64_t rows, k, ld;
    int is_signed;
    int32_t *sums;
    int64_t parts;
} qsum_job;

EP_DISPATCH static int qsum_part(void *ctx, int64_t part) {
    const qsum_job *j = (const qsum_job *)ctx;
    int64_t b, e;
    ep_part_range(j->rows, j->parts, part, 1, &b, &e);
    for (int64_t r = b; r < e; r++) {
        const uint8_t *x = j->x + r * j->ld;
        uint32_t total = 0;
        if (j->is_signed) {
            const int8_t *xs = (const int8_t *)x;
            for (int64_t i = 0; i < j->k; i++) total += (uint32_t)(int32_t)xs[i];
        } else {
            for (int64_t i = 0; i < j->k; i++) total += x[i];
        }
        j->sums[r] = (int32_t)(total >= 0x80000000u ? (int64_t)total - 0x100000000LL : (int64_t)total);
    }
    return 0;
}

int ep_qrow_sums(const void *x, int64_t rows, int64_t k, int64_t ld, int is_signed, int32_t *sums, int64_t threads) {
    if (rows <= 0) return 0;
    qsum_job j = {(const uint8_t *)x, rows, k, ld, is_signed, sums, 1};
    const int64_t parts = ep_parts_from(threads, rows * (k > 0 ? k : 1), EP_QBYTE_GRAIN, EP_QBYTE_LEAST);
    j.parts = parts < rows ? parts : rows;
    if (j.parts <= 1) return qsum_part(&j, 0);
    return ep_parallel_for(threads, j.parts, qsum_part, &j);
}

/* ------------------------------------------------------------------ ConvInteger's rows */

/* One image's (c, h, w) bytes as a padded (eh, ew, c) array: dst[y][x][ch] = x[ch][y - pt][x - pl] ^ flip,
 * `pad` outside the image (the zero point, so that padding adds nothing). */
typedef struct {
    const uint8_t *x;
    uint8_t *dst;
    int64_t c, h, w, pt, pl, eh, ew;
    uint8_t flip, pad;
    int64_t parts;
} hwc_job;

EP_DISPATCH static int hwc_part(void *ctx, int64_t part) {
    const hwc_job *j = (const hwc_job *)ctx;
    int64_t b, e;
    ep_part_range(j->eh, j->parts, part, 1, &b, &e);
    const int64_t c = j->c, w = j->w, plane = j->h * j->w;
    for (int64_t ey = b; ey < e; ey++) {
        uint8_t *row = j->dst + ey * j->ew * c;
        const int64_t iy = ey - j->pt;
        if (iy < 0 || iy >= j->h) {
            memset(row, j->pad, (size_t)(j->ew * c));
            continue;
        }
        const int64_t x0 = j->pl < j->ew ? j->pl : j->ew;           /* first column inside the image */
        const int64_t x1 = j->pl + w < j->ew ? j->pl + w : j->ew;    /* one past the last */
        memset(row, j->pad, (size_t)(x0 * c));
        if (x1 < j->ew) memset(row + x1 * c, j->pad, (size_t)((j->ew - x1) * c));
        const uint8_t *src = j->x + iy * w;
        if (c == 1) {
            for (int64_t ex = x0; ex < x1; ex++) row[ex] = src[ex - j->pl] ^ j->flip;
            continue;
        }
        for (int64_t ex = x0; ex < x1; ex++) {
            uint8_t *d = row + ex * c;
            const uint8_t *s = src + (ex - j->pl);
            for (int64_t ch = 0; ch < c; ch++) d[ch] = s[ch * plane] ^ j->flip;
        }
    }
    return 0;
}

int ep_qpad_hwc(const uint8_t *x, uint8_t *dst, int64_t c, int64_t h, int64_t w, int64_t pt, int64_t pl, int64_t eh,
                int64_t ew, int flip, int pad, int64_t threads) {
    if (c <= 0 || eh <= 0 || ew <= 0) return 0;
    hwc_job j = {x, dst, c, h, w, pt, pl, eh, ew, (uint8_t)flip, (uint8_t)pad, 1};
    int64_t parts = ep_parts_from(threads, eh * ew * c, EP_QBYTE_GRAIN, EP_QBYTE_LEAST);
    j.parts = parts < eh ? parts : eh;
    if (j.parts <= 1) return hwc_part(&j, 0);
    return ep_parallel_for(threads, j.parts, hwc_part, &j);
}

/* The GEMM panels of one group of a convolution, from the padded (eh, ew, c) bytes: column p = (oy, ox)
 * holds, for each tap (ky, kx), the cg channels [c0, c0 + cg) of the pixel the tap reads (k = kh * kw * cg,
 * taps outermost); sums[p] = the column's sum. Each panel's 16 columns are gathered into a row-major
 * tile first (one copy of cg bytes per tap), then packed. */
typedef struct {
    const uint8_t *hwc;
    int8_t *panels;
    int32_t *sums;
    int64_t c, ew, c0, cg, kh, kw, sh, sw, dh, dw, ho, wo, kp, parts;
} rows_job;

EP_DISPATCH static int rows_part(void *ctx, int64_t part) {
    const rows_job *j = (const rows_job *)ctx;
    const int64_t plane = j->ho * j->wo, panels = (plane + EP_QPANEL - 1) / EP_QPANEL;
    const int64_t kdim = j->kh * j->kw * j->cg, cg = j->cg;
    int64_t b, e;
    ep_part_range(panels, j->parts, part, 1, &b, &e);
    if (cg % 4 == 0) {
        /* every group of 4 k is 4 channels of one tap: for each, the 16 columns' 4-byte words are one
         * gather from the pixels' offsets (columns past the plane repeat the first pixel: their sums
         * are never read) */
        int64_t off[EP_QPANEL];
        for (int64_t jp = b; jp < e; jp++) {
            const int64_t p0 = jp * EP_QPANEL, nv = plane - p0 < EP_QPANEL ? plane - p0 : EP_QPANEL;
            for (int64_t jj = 0; jj < EP_QPANEL; jj++) {
                const int64_t q = p0 + (jj < nv ? jj : 0), oy = q / j->wo, ox = q % j->wo;
                off[jj] = (oy * j->sh * j->ew + ox * j->sw) * j->c + j->c0;
            }
            int8_t *dst = j->panels + jp * j->kp * EP_QPANEL;
            for (int64_t ky = 0; ky < j->kh; ky++)
                for (int64_t kx = 0; kx < j->kw; kx++) {
                    const uint8_t *tap = j->hwc + (ky * j->dh * j->ew + kx * j->dw) * j->c;
                    for (int64_t c4 = 0; c4 < cg; c4 += 4, dst += 4 * EP_QPANEL)
                        for (int64_t jj = 0; jj < EP_QPANEL; jj++) memcpy(dst + 4 * jj, tap + off[jj] + c4, 4);
                }
            panel_sums(j->panels + jp * j->kp * EP_QPANEL, j->kp, nv, j->sums + p0);
        }
        return 0;
    }
    int8_t *tile = (int8_t *)malloc((size_t)(EP_QPANEL * kdim));
    if (!tile) return -1;
    for (int64_t jp = b; jp < e; jp++) {
        const int64_t p0 = jp * EP_QPANEL, nv = plane - p0 < EP_QPANEL ? plane - p0 : EP_QPANEL;
        for (int64_t jj = 0; jj < nv; jj++) {
            const int64_t oy = (p0 + jj) / j->wo, ox = (p0 + jj) % j->wo;
            int8_t *d = tile + jj * kdim;
            for (int64_t ky = 0; ky < j->kh; ky++) {
                const uint8_t *src = j->hwc + ((oy * j->sh + ky * j->dh) * j->ew + ox * j->sw) * j->c + j->c0;
                if (cg == 1) /* one channel a group (a first layer, depthwise): bytes, not calls to memcpy */
                    for (int64_t kx = 0; kx < j->kw; kx++) *d++ = (int8_t)src[kx * j->dw * j->c];
                else
                    for (int64_t kx = 0; kx < j->kw; kx++, d += cg) memcpy(d, src + kx * j->dw * j->c, (size_t)cg);
            }
        }
        pack_panel(tile, kdim, nv, kdim, j->kp, j->panels + jp * j->kp * EP_QPANEL, j->sums + p0);
    }
    free(tile);
    return 0;
}

int ep_qconv_panels(const uint8_t *hwc, int8_t *panels, int32_t *sums, int64_t c, int64_t ew, int64_t c0, int64_t cg,
                    int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t dh, int64_t dw, int64_t ho, int64_t wo,
                    int64_t kp, int64_t threads) {
    if (ho <= 0 || wo <= 0) return 0;
    if (kp < kh * kw * cg || kp % 4 || !ep_sizes_fit(EP_QPANEL, kh * kw, cg)) return -2;
    rows_job j = {hwc, panels, sums, c, ew, c0, cg, kh, kw, sh, sw, dh, dw, ho, wo, kp, 1};
    const int64_t units = (ho * wo + EP_QPANEL - 1) / EP_QPANEL;
    const int64_t parts = ep_parts_from(threads, ho * wo * kp, EP_QBYTE_GRAIN, EP_QBYTE_LEAST);
    j.parts = parts < units ? parts : units;
    if (j.parts <= 1) return rows_part(&j, 0);
    return ep_parallel_for(threads, j.parts, rows_part, &j);
}

/* ------------------------------------------------------------------ DynamicQuantizeLinear */

typedef struct {
    const float *x;
    uint8_t *y;
    int64_t n, parts;
    float lo[EP_MAX_THREADS * 4], hi[EP_MAX_THREADS * 4];
    int bad[EP_MAX_THREADS * 4];
    float scale, zero;
} dql_job;

/* min(x, 0), max(x, 0) and whether some x is a NaN or an infinity (its exponent bits all ones: an
 * integer test), for one part. Compiled as finite math, so that the selects are min / max reductions
 * GCC vectorises: with a NaN or an infinity the range is meaningless, but the caller then runs the numpy
 * kernel; a -0 minimum is harmless (0 - -0 is 0). */
#if defined(__GNUC__) && !defined(__clang__)
#define EP_FINITE_MATH __attribute__((optimize("finite-math-only,no-signed-zeros")))
#else
#define EP_FINITE_MATH
#endif
EP_FINITE_MATH EP_DISPATCH static int dql_range_part(void *ctx, int64_t part) {
    dql_job *j = (dql_job *)ctx;
    int64_t b, e;
    ep_part_range(j->n, j->parts, part, 1024, &b, &e);
    float lo = 0.0f, hi = 0.0f;
    uint32_t exponent = 0; /* the largest exponent field: all ones for a NaN or an infinity */
    const float *restrict x = j->x;
    for (int64_t i = b; i < e; i++) {
        uint32_t bits;
        memcpy(&bits, x + i, 4);
        bits &= 0x7f800000u;
        exponent = bits > exponent ? bits : exponent;
        lo = x[i] < lo ? x[i] : lo;
        hi = x[i] > hi ? x[i] : hi;
    }
    j->lo[part] = lo;
    j->hi[part] = hi;
    j->bad[part] = exponent == 0x7f800000u;
    return 0;
}

/* rint(q) + zero saturated to [0, 255] as a byte; the selects are single max / min instructions and send
 * a NaN to 0 (the caller never keeps a NaN's result) */
EP_INLINE uint8_t dql_byte(float t, float zero) {
    float q = t + zero;
    q = q > 0.0f ? q : 0.0f;
    q = q < 255.0f ? q : 255.0f;
    return (uint8_t)(int32_t)q;
}

/* y[i] = saturate(rint(x[i] / scale) + zero) for i in [b, e): the numpy kernel's float32 division */
EP_INLINE void dql_divide(const float *restrict x, uint8_t *restrict y, int64_t b, int64_t e, float scale, float zero) {
    /* round half to even by the 1.5 * 2^23 trick (|x / scale| <= 256 here), as np.rint does */
    for (int64_t i = b; i < e; i++) y[i] = dql_byte((x[i] / scale + 12582912.0f) - 12582912.0f, zero);
}

/* The same by a multiplication with 1 / scale (a division costs 8-16 times more). x * (1 / scale) is
 * within 1.5 * 2^-23 * |x / scale| <= 5e-5 of float32's x / scale (|x / scale| <= 256 here), so the
 * two round to the same integer unless x * (1 / scale) lies within 1e-4 of a half-integer; a block
 * holding such a value is computed again by division. */
#define EP_DQL_BLOCK 256
EP_DISPATCH static int dql_quantize_part(void *ctx, int64_t part) {
    dql_job *j = (dql_job *)ctx;
    int64_t b, e;
    ep_part_range(j->n, j->parts, part, 1024, &b, &e);
    const float scale = j->scale, zero = j->zero, inv = 1.0f / scale;
    const float *restrict x = j->x;
    uint8_t *restrict y = j->y; /* locals: stores through a byte pointer would otherwise alias the job */
    if (!(inv < 1.0e38f)) { /* a subnormal scale: 1 / scale is not a finite float */
        dql_divide(x, y, b, e, scale, zero);
        return 0;
    }
    for (int64_t i0 = b; i0 < e; i0 += EP_DQL_BLOCK) {
        const int64_t i1 = e - i0 < EP_DQL_BLOCK ? e : i0 + EP_DQL_BLOCK;
        int near = 0;
        for (int64_t i = i0; i < i1; i++) {
            const float r = x[i] * inv;
            const float t = (r + 12582912.0f) - 12582912.0f;
            near |= fabsf(r - t) > 0.4999f;
            y[i] = dql_byte(t, zero);
        }
        if (near) dql_divide(x, y, i0, i1, scale, zero);
    }
    return 0;
}

/* DynamicQuantizeLinear's scale and zero point of x (n floats) over [min(x, 0), max(x, 0)], as the numpy
 * kernel computes them; j->parts set, the range pass run. Returns 1 when x holds a NaN or an infinity, a
 * code of ep_parallel_for, else 0. */
static int dql_params(dql_job *j, int64_t threads) {
    const int64_t parts = ep_parts_from(threads, j->n, EP_QBYTE_GRAIN, EP_QBYTE_LEAST);
    j->parts = parts < 1 ? 1 : parts > EP_MAX_THREADS * 4 ? EP_MAX_THREADS * 4 : parts;
    int rc = j->parts <= 1 ? dql_range_part(j, 0) : ep_parallel_for(threads, j->parts, dql_range_part, j);
    float lo = 0.0f, hi = 0.0f;
    int bad = 0;
    for (int64_t p = 0; p < j->parts; p++) {
        lo = j->lo[p] < lo ? j->lo[p] : lo;
        hi = j->hi[p] > hi ? j->hi[p] : hi;
        bad |= j->bad[p];
    }
    const float scale = hi == lo ? 1.0f : (hi - lo) / 255.0f;
    float zero = 0.0f - lo / scale;
    zero = zero < 0.0f ? 0.0f : zero;
    zero = zero > 255.0f ? 255.0f : zero;
    zero = zero == zero ? nearbyintf(zero) : 0.0f;
    j->scale = scale;
    j->zero = zero;
    return rc != 0 ? rc : bad;
}

/* y = saturate(round(x / scale) + zero_point) over [min(x, 0), max(x, 0)], as the numpy kernel computes it
 * (float32 division, half-to-even rounding). Returns 1 without writing y when x holds a NaN or an
 * infinity (the caller then runs the numpy kernel), -1 when out of memory, else 0. */
int ep_dynamic_quantize_u8(const float *x, int64_t n, uint8_t *y, float *scale_out, uint8_t *zero_out,
                           int64_t threads) {
    dql_job *j = (dql_job *)malloc(sizeof *j);
    if (!j) return -1;
    j->x = x;
    j->y = y;
    j->n = n;
    int rc = dql_params(j, threads);
    if (rc == 0) rc = j->parts <= 1 ? dql_quantize_part(j, 0) : ep_parallel_for(threads, j->parts, dql_quantize_part, j);
    *scale_out = j->scale;
    *zero_out = (uint8_t)(int32_t)j->zero;
    free(j);
    return rc;
}

/* DynamicQuantizeLinear's scale and zero point of x (n floats), without quantizing: what
 * ep_dynamic_quantize_u8 stores in *scale_out and *zero_out. Returns 1 when x holds a NaN or an infinity,
 * -1 when out of memory, else 0. */
int ep_dynamic_quantize_params(const float *x, int64_t n, float *scale_out, uint8_t *zero_out, int64_t threads) {
    dql_job *j = (dql_job *)malloc(sizeof *j);
    if (!j) return -1;
    j->x = x;
    j->y = NULL;
    j->n = n;
    const int rc = dql_params(j, threads);
    *scale_out = j->scale;
    *zero_out = (uint8_t)(int32_t)j->zero;
    free(j);
    return rc;
}

/* y[i] = saturate(round(x[i] / scale) + zero) for i < n on the calling thread, with the scale and zero
 * point ep_dynamic_quantize_params gave for a tensor x is part of: the same bytes as ep_dynamic_quantize_u8
 * writes there. */
void ep_dynamic_quantize_with(const float *x, int64_t n, uint8_t *y, float scale, uint8_t zero) {
    dql_job j;
    j.x = x;
    j.y = y;
    j.n = n;
    j.parts = 1;
    j.scale = scale;
    j.zero = (float)zero;
    dql_quantize_part(&j, 0);
}
