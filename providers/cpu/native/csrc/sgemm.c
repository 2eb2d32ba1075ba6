/* Dense convolution (and MatMul with a constant B) as a packed, cache-blocked SGEMM with a register-blocked
 * micro-kernel.
 *
 * Y (m, positions) = W (m, k) @ B (k, positions) per image and group, where W is the weights (packed once
 * per node by ep_sgemm_pack_a_f32: panels of EP_GEMM_MR rows, k-major, one block of k after another) and B
 * the convolution's columns. B
 * is never built whole (no im2col): the input is first copied into zero-padded *phase planes*, one per
 * (row, column) offset modulo the stride, in which every kernel tap's column run is one contiguous run of
 * the plane ("wide" positions q = oy * Wph + ox; the Wph - wo columns past the output width are computed
 * and discarded). Packing a panel of B is then one short copy per k row, and with few output channels
 * the micro-kernel reads full panels in place instead. At stride 1 without top / left padding the input
 * itself is the plane (1x1 convolutions copy nothing).
 *
 * For each block of EP_GEMM_NB panels of nr positions: for each block of at most EP_GEMM_KC rows of k,
 * the panels are packed and the micro-kernel sweeps every row panel of W over each, accumulating into an
 * m x (NB * nr) strip; after the last k block the epilogue (bias, residual, activation) runs on the strip
 * while it is in cache and scatters it into the output. For small maps a transposed form broadcasts the
 * output positions (gathered, without the wide positions' discarded columns) and keeps the output channels
 * in the vectors (weights packed by ep_sgemm_pack_b_f32). The micro-kernel prefetches the weight panel that
 * comes next, so that weights larger than the caches stream from memory while a panel computes. Blocks
 * are split over threads; each output element is summed in the same order whoever computes it, so the
 * bits do not depend on the thread count. ep_sgemm_f32 is the same micro-kernel for MatMul.
 *
 * Micro-kernels (GCC/clang vector extensions, compiled per instruction set with target attributes and
 * chosen at run time): AVX-512 8 x 32 (16 zmm accumulators), AVX2+FMA 8 x 16 (two 4 x 16 halves), and a
 * portable 8 x 16 in plain C.
 */
#if !defined(_WIN32) && !defined(EP_NO_THREADS)
#define _POSIX_C_SOURCE 200809L
#define EP_SCRATCH_TLS 1
#include <pthread.h>
#endif
#include <stdlib.h>

#include "ep_native.h"

/* rows of a packed weight panel; fixed for every micro-kernel, so packed weights suit any CPU */
#define EP_GEMM_MR 8
/* the most k rows of a packed B panel (32 x 256 floats: 32 KiB, in L1) */
#define EP_GEMM_KC 256
/* with at most this many output channels (a group), B's full panels are read in place: each packed
 * value would serve too few multiply-adds to pay for its copy */
#define EP_GEMM_IN_PLACE_M 32
/* B is packed this many panels at a time (each source row is read as one run of up to 4 x 32 floats) */
#define EP_GEMM_NB 4
/* the packed usual form gathers the output positions themselves when that takes at most this many sixteenths
 * of the panels of the wide positions (measured: 28x28 and 27x27 maps at 15/16 and below gain 3-6%, 56x56 ones
 * at 15.4/16 tie, 14x14 ones, the same panels, lose 5%) */
#define EP_GEMM_EXACT_SAVING 15

#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
#define EP_GEMM_X86 1
#endif

/* c (MR x nr tile, rows ldc apart) = (acc ? c : 0) + a (kc x MR) . b (kc x nr); row k of b at b + k * nr
 * (packed), or at b + boff[k] when boff is given (read in place from the phase planes). The SIMD kernels also
 * prefetch the kc * MR floats at pf (NULL: none) into cache, the next weights the caller will read: weights too
 * large for the caches stream from memory while this tile computes. */
typedef void (*micro_fn)(int64_t kc, const float *restrict a, const float *restrict b, const int64_t *boff,
                         float *restrict c, int64_t ldc, int acc, const float *pf);

/* portable kernel, NR = 16: one row at a time (its 16 sums stay in registers) */
static void micro_generic(int64_t kc, const float *restrict a, const float *restrict b, const int64_t *boff,
                          float *restrict c, int64_t ldc, int acc, const float *pf) {
    (void)pf;
    for (int r = 0; r < EP_GEMM_MR; r++) {
        float s[16];
        for (int j = 0; j < 16; j++) s[j] = acc ? c[r * ldc + j] : 0.0f;
        for (int64_t k = 0; k < kc; k++) {
            const float av = a[k * EP_GEMM_MR + r];
            const float *bk = boff ? b + boff[k] : b + k * 16;
            for (int j = 0; j < 16; j++) s[j] += av * bk[j];
        }
        for (int j = 0; j < 16; j++) c[r * ldc + j] = s[j];
    }
}

#ifdef EP_GEMM_X86
/* element-aligned vectors: B (the weights, in the transposed form) may come from the caller unaligned */
typedef float v8f __attribute__((vector_size(32), aligned(4)));
typedef float v16f __attribute__((vector_size(64), aligned(4)));

/* AVX2 + FMA, NR = 16: rows 0-3, then rows 4-7, 4 x 2 ymm accumulators each */
__attribute__((target("avx2,fma"))) static void micro_avx2(int64_t kc, const float *restrict a,
                                                          const float *restrict b, const int64_t *boff,
                                                          float *restrict c, int64_t ldc, int acc,
                                                          const float *pf) {
    if (!pf) pf = a;
    for (int half = 0; half < 2; half++) {
        const float *ah = a + 4 * half;
        float *c0 = c + 4 * half * ldc, *c1 = c0 + ldc, *c2 = c1 + ldc, *c3 = c2 + ldc;
        v8f c00, c01, c10, c11, c20, c21, c30, c31;
        if (acc) {
            c00 = *(const v8f *)(c0); c01 = *(const v8f *)(c0 + 8);
            c10 = *(const v8f *)(c1); c11 = *(const v8f *)(c1 + 8);
            c20 = *(const v8f *)(c2); c21 = *(const v8f *)(c2 + 8);
            c30 = *(const v8f *)(c3); c31 = *(const v8f *)(c3 + 8);
        } else {
            c00 = c01 = c10 = c11 = c20 = c21 = c30 = c31 = (v8f){0};
        }
        for (int64_t k = 0; k < kc; k++) {
            if (half == 0) __builtin_prefetch(pf + k * EP_GEMM_MR, 0, 3);
            const float *bk = boff ? b + boff[k] : b + k * 16;
            const v8f b0 = *(const v8f *)(bk), b1 = *(const v8f *)(bk + 8);
            const float *ak = ah + k * EP_GEMM_MR;
            c00 += ak[0] * b0; c01 += ak[0] * b1;
            c10 += ak[1] * b0; c11 += ak[1] * b1;
            c20 += ak[2] * b0; c21 += ak[2] * b1;
            c30 += ak[3] * b0; c31 += ak[3] * b1;
        }
        *(v8f *)(c0) = c00; *(v8f *)(c0 + 8) = c01;
        *(v8f *)(c1) = c10; *(v8f *)(c1 + 8) = c11;
        *(v8f *)(c2) = c20; *(v8f *)(c2 + 8) = c21;
        *(v8f *)(c3) = c30; *(v8f *)(c3 + 8) = c31;
    }
}

/* AVX-512, NR = 32: 8 rows x 2 zmm accumulators; the weights are broadcast from memory */
__attribute__((target("avx512f,avx512vl,avx2,fma"))) static void micro_avx512(int64_t kc, const float *restrict a,
                                                                              const float *restrict b,
                                                                              const int64_t *boff,
                                                                              float *restrict c, int64_t ldc,
                                                                              int acc, const float *pf) {
    if (!pf) pf = a;
    v16f c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51, c60, c61, c70, c71;
    if (acc) {
        c00 = *(const v16f *)(c + 0 * ldc); c01 = *(const v16f *)(c + 0 * ldc + 16);
        c10 = *(const v16f *)(c + 1 * ldc); c11 = *(const v16f *)(c + 1 * ldc + 16);
        c20 = *(const v16f *)(c + 2 * ldc); c21 = *(const v16f *)(c + 2 * ldc + 16);
        c30 = *(const v16f *)(c + 3 * ldc); c31 = *(const v16f *)(c + 3 * ldc + 16);
        c40 = *(const v16f *)(c + 4 * ldc); c41 = *(const v16f *)(c + 4 * ldc + 16);
        c50 = *(const v16f *)(c + 5 * ldc); c51 = *(const v16f *)(c + 5 * ldc + 16);
        c60 = *(const v16f *)(c + 6 * ldc); c61 = *(const v16f *)(c + 6 * ldc + 16);
        c70 = *(const v16f *)(c + 7 * ldc); c71 = *(const v16f *)(c + 7 * ldc + 16);
    } else {
        c00 = c01 = c10 = c11 = c20 = c21 = c30 = c31 = (v16f){0};
        c40 = c41 = c50 = c51 = c60 = c61 = c70 = c71 = (v16f){0};
    }
#define EP_MICRO512_STEP(bk, k)                                                                   \
    do {                                                                                          \
        const v16f b0 = *(const v16f *)(bk), b1 = *(const v16f *)((bk) + 16);                    \
        const float *ak = a + (k) * EP_GEMM_MR;                                                   \
        c00 += ak[0] * b0; c01 += ak[0] * b1;                                                     \
        c10 += ak[1] * b0; c11 += ak[1] * b1;                                                     \
        c20 += ak[2] * b0; c21 += ak[2] * b1;                                                     \
        c30 += ak[3] * b0; c31 += ak[3] * b1;                                                     \
        c40 += ak[4] * b0; c41 += ak[4] * b1;                                                     \
        c50 += ak[5] * b0; c51 += ak[5] * b1;                                                     \
        c60 += ak[6] * b0; c61 += ak[6] * b1;                                                     \
        c70 += ak[7] * b0; c71 += ak[7] * b1;                                                     \
    } while (0)
    /* one loop per way of reading B (no test per step); a prefetch per cache line of pf (two steps) */
    int64_t k = 0;
    if (boff) {
        for (; k + 1 < kc; k += 2) {
            __builtin_prefetch(pf + k * EP_GEMM_MR, 0, 3);
            EP_MICRO512_STEP(b + boff[k], k);
            EP_MICRO512_STEP(b + boff[k + 1], k + 1);
        }
        if (k < kc) EP_MICRO512_STEP(b + boff[k], k);
    } else {
        for (; k + 1 < kc; k += 2) {
            __builtin_prefetch(pf + k * EP_GEMM_MR, 0, 3);
            EP_MICRO512_STEP(b + k * 32, k);
            EP_MICRO512_STEP(b + k * 32 + 32, k + 1);
        }
        if (k < kc) EP_MICRO512_STEP(b + k * 32, k);
    }
#undef EP_MICRO512_STEP
    *(v16f *)(c + 0 * ldc) = c00; *(v16f *)(c + 0 * ldc + 16) = c01;
    *(v16f *)(c + 1 * ldc) = c10; *(v16f *)(c + 1 * ldc + 16) = c11;
    *(v16f *)(c + 2 * ldc) = c20; *(v16f *)(c + 2 * ldc + 16) = c21;
    *(v16f *)(c + 3 * ldc) = c30; *(v16f *)(c + 3 * ldc + 16) = c31;
    *(v16f *)(c + 4 * ldc) = c40; *(v16f *)(c + 4 * ldc + 16) = c41;
    *(v16f *)(c + 5 * ldc) = c50; *(v16f *)(c + 5 * ldc + 16) = c51;
    *(v16f *)(c + 6 * ldc) = c60; *(v16f *)(c + 6 * ldc + 16) = c61;
    *(v16f *)(c + 7 * ldc) = c70; *(v16f *)(c + 7 * ldc + 16) = c71;
}
#endif

/* the micro-kernel forced by ep_sgemm_force_kernel (tests), 0 for the best the CPU has */
static int forced_kernel;

/* EP_GEMM_KERNEL_* levels */
enum { EP_GEMM_KERNEL_AUTO = 0, EP_GEMM_KERNEL_GENERIC = 1, EP_GEMM_KERNEL_AVX2 = 2, EP_GEMM_KERNEL_AVX512 = 3 };

/* the best micro-kernel level this CPU runs */
static int best_kernel(void) {
#ifdef EP_GEMM_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl")) return EP_GEMM_KERNEL_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return EP_GEMM_KERNEL_AVX2;
#endif
    return EP_GEMM_KERNEL_GENERIC;
}

/* the micro-kernel to use and its panel width */
static micro_fn pick_kernel(int64_t *nr) {
    const int level = forced_kernel ? forced_kernel : best_kernel();
#ifdef EP_GEMM_X86
    if (level == EP_GEMM_KERNEL_AVX512) {
        *nr = 32;
        return micro_avx512;
    }
    if (level == EP_GEMM_KERNEL_AVX2) {
        *nr = 16;
        return micro_avx2;
    }
#endif
    *nr = 16;
    return micro_generic;
}

/* Use micro-kernel `level` (EP_GEMM_KERNEL_*; 0: the best the CPU has) from now on, for tests of
 * every kernel on one machine. Returns the level now in use, or -1 (nothing changed) for a level
 * this CPU or build cannot run. */
int ep_sgemm_force_kernel(int level) {
    if (level < 0 || level > EP_GEMM_KERNEL_AVX512 || level > best_kernel()) return -1;
    forced_kernel = level;
    return level ? level : best_kernel();
}

/* floats of the packed form of `groups` weight matrices of m x k, or -1 when that is absurd */
int64_t ep_sgemm_packed_size(int64_t groups, int64_t m, int64_t k) {
    const int64_t mp = (m + EP_GEMM_MR - 1) / EP_GEMM_MR * EP_GEMM_MR;
    if (groups <= 0 || m <= 0 || k <= 0) return 0;
    if (!ep_sizes_fit(groups, mp, k)) return -1;
    return groups * mp * k;
}

/* the rows of k in each of the blocks that the GEMM sums over (the last block may be shorter): at most
 * EP_GEMM_KC, as even as the blocks can be */
static int64_t block_rows(int64_t k) {
    const int64_t blocks = (k + EP_GEMM_KC - 1) / EP_GEMM_KC;
    return (k + blocks - 1) / blocks;
}

/* Pack `groups` matrices a of m rows of k floats into panels of w rows, block-major: per group, for each block
 * of k rows [k0, k0 + kcb) (block_rows), every panel's kcb x w values in turn, k-major: row r of panel i0 / w,
 * row kk of the block at out + k0 * mp + i0 * kcb + kk * w + r (mp = m rounded up to w), rows past m zero.
 * A block's panels are then one contiguous run, read in order as the GEMM sweeps them (hardware prefetchers
 * follow it where weights come from memory). */
static void pack_panels(const float *a, int64_t groups, int64_t m, int64_t k, int64_t w, float *out) {
    const int64_t mp = (m + w - 1) / w * w, kc = block_rows(k);
    for (int64_t g = 0; g < groups; g++)
        for (int64_t k0 = 0; k0 < k; k0 += kc) {
            const int64_t kcb = k - k0 < kc ? k - k0 : kc;
            for (int64_t i0 = 0; i0 < mp; i0 += w) {
                float *panel = out + g * mp * k + k0 * mp + i0 * kcb;
                for (int64_t r = 0; r < w; r++) {
                    const float *row = i0 + r < m ? a + (g * m + i0 + r) * k + k0 : NULL;
                    for (int64_t kk = 0; kk < kcb; kk++) panel[kk * w + r] = row ? row[kk] : 0.0f;
                }
            }
        }
}

/* ap = a (groups * m rows of k floats) packed for the micro-kernels: per group, panels of MR rows in blocks of
 * k (pack_panels), rows past m zero. */
int ep_sgemm_pack_a_f32(const float *a, int64_t groups, int64_t m, int64_t k, float *ap) {
    if (groups <= 0 || m <= 0 || k <= 0) return 0;
    pack_panels(a, groups, m, k, EP_GEMM_MR, ap);
    return 0;
}

/* the panel width of the micro-kernel in use (the weights' layout for ep_conv2d_gemm_f32's transposed
 * form depends on it) */
int64_t ep_sgemm_nr(void) {
    int64_t nr;
    pick_kernel(&nr);
    return nr;
}

/* floats of `groups` weight matrices of m x k packed as B panels of nr columns, or -1 when absurd */
int64_t ep_sgemm_packed_b_size(int64_t groups, int64_t m, int64_t k, int64_t nr) {
    if (groups <= 0 || m <= 0 || k <= 0) return 0;
    if (nr <= 0) return -1;
    const int64_t mp = (m + nr - 1) / nr * nr;
    if (!ep_sizes_fit(groups, mp, k)) return -1;
    return groups * mp * k;
}

/* bp = a (groups * m rows of k floats) transposed into B panels of nr columns (pack_panels: per group and block
 * of k, panel j's rows kk hold a[j * nr + c][kk] in column c), rows past m zero. */
int ep_sgemm_pack_b_f32(const float *a, int64_t groups, int64_t m, int64_t k, int64_t nr, float *bp) {
    if (groups <= 0 || m <= 0 || k <= 0) return 0;
    if (nr <= 0) return -1;
    pack_panels(a, groups, m, k, nr, bp);
    return 0;
}

typedef struct {
    const float *x, *ap, *bias, *residual;
    float *y;
    int64_t c, h, wd, m, group, kh, kw, sh, sw, dh, dw, pt, pl, ho, wo;
    int act;
    float alpha, beta;
    /* phase planes of the current image: `planes` (the image itself, or phase_buf), channel ci's plane (slot s) at
     * planes + ci * chan_stride + s * hph * wph, rows wph floats apart */
    const float *planes;
    float *phase_buf;
    int64_t hph, wph, chan_stride, slots;
    int64_t *slot_py, *slot_px; /* the phase (row, column offset) of each slot: those a tap reads */
    const int64_t *koff; /* k row (ci, ky, kx) of a group -> its plane offset for q = 0 */
    const int64_t *pos_off; /* transposed form: output position oy * wo + ox -> its plane offset oy * wph + ox */
    int64_t cg, mg, mp, kk, kc, kblocks, q, nb, blocks, nr, parts, image;
    int transposed; /* ap holds the weights as B panels (mp: out channels rounded to nr); positions are A */
    int in_place;   /* full B panels are read from the phase planes, not packed (few output channels) */
    int exact;      /* usual form, packed: B holds the output positions themselves, not the wide ones */
    micro_fn micro;
} gemm_job;

/* Copy the phase planes of image j->image's channels [c0, c1): slot (py, px) row i, column jj holds
 * the input at (i * sh + py - pt, jj * sw + px - pl), zero outside. */
EP_INLINE void build_phases(const gemm_job *j, int64_t c0, int64_t c1) {
    const int64_t sh = j->sh, sw = j->sw, wd = j->wd, wph = j->wph;
    for (int64_t ci = c0; ci < c1; ci++) {
        const float *plane = j->x + (j->image * j->c + ci) * j->h * wd;
        for (int64_t s = 0; s < j->slots; s++) {
                const int64_t py = j->slot_py[s], px = j->slot_px[s];
                float *dst = j->phase_buf + ci * j->chan_stride + s * j->hph * wph;
                /* columns jj whose input column lies inside: x0 <= jj < x1 */
                const int64_t off = px - j->pl;
                int64_t x0 = off >= 0 ? 0 : (-off + sw - 1) / sw;
                int64_t x1 = wd - off <= 0 ? 0 : (wd - off + sw - 1) / sw;
                if (x1 > wph) x1 = wph;
                if (x0 > x1) x0 = x1;
                for (int64_t i = 0; i < j->hph; i++) {
                    float *d = dst + i * wph;
                    const int64_t iy = i * sh + py - j->pt;
                    if (iy < 0 || iy >= j->h) {
                        memset(d, 0, (size_t)wph * sizeof(float));
                        continue;
                    }
                    const float *src = plane + iy * wd + off;
                    for (int64_t jj = 0; jj < x0; jj++) d[jj] = 0.0f;
                    if (sw == 1) memcpy(d + x0, src + x0, (size_t)(x1 - x0) * sizeof(float));
                    else if (sw == 2) for (int64_t jj = x0; jj < x1; jj++) d[jj] = src[jj * 2];
                    else for (int64_t jj = x0; jj < x1; jj++) d[jj] = src[jj * sw];
                    for (int64_t jj = x1; jj < wph; jj++) d[jj] = 0.0f;
                }
        }
    }
}

typedef struct {
    const gemm_job *j;
    int64_t parts;
} phase_job;

EP_DISPATCH
static int phase_part(void *ctx, int64_t part) {
    const phase_job *p = (const phase_job *)ctx;
    int64_t c0, c1;
    ep_part_range(p->j->c, p->parts, part, 1, &c0, &c1);
    build_phases(p->j, c0, c1);
    return 0;
}

/* full panels of NR columns: panel p's row k at bp + (p * kc + k) * NR (NR constant when inlined) */
EP_INLINE void pack_full(float *restrict bp, const float *base, const int64_t *koff, int64_t kc, int64_t q0,
                         int64_t panels, int64_t NR) {
    for (int64_t k = 0; k < kc; k++) {
        const float *src = base + koff[k] + q0;
        for (int64_t p = 0; p < panels; p++)
            memcpy(bp + (p * kc + k) * NR, src + p * NR, (size_t)NR * sizeof(float));
    }
}

/* Pack rows [k0, k0 + kc) of B for the n wide positions from q0 on, into panels of nr (the last one
 * zero-padded): panel p's row k at bp + (p * kc + k) * nr. Each source row is one contiguous run. */
EP_INLINE void pack_b(const gemm_job *j, float *restrict bp, const float *base, int64_t k0, int64_t kc, int64_t q0,
                      int64_t n) {
    const int64_t nr = j->nr, full = n / nr, rem = n % nr;
    const int64_t *koff = j->koff + k0;
    if (nr == 32) pack_full(bp, base, koff, kc, q0, full, 32);
    else if (nr == 16) pack_full(bp, base, koff, kc, q0, full, 16);
    else pack_full(bp, base, koff, kc, q0, full, nr);
    if (rem) {
        float *tail = bp + full * kc * nr;
        for (int64_t k = 0; k < kc; k++) {
            float *d = tail + k * nr;
            memcpy(d, base + koff[k] + q0 + full * nr, (size_t)rem * sizeof(float));
            for (int64_t i = rem; i < nr; i++) d[i] = 0.0f;
        }
    }
}

/* pack_b for the output positions [q0, q0 + n) themselves (output row oy's columns at plane offset oy * wph):
 * the wide positions' discarded columns are left out, so that maps with a few of them fill fewer panels (a
 * padded 3x3 on 28x28: 784 outputs, 25 panels of 32, against 838 wide positions, 27 panels). Each k row is
 * copied as the same runs (inside one output row and one panel), found once per block; the runs cost more
 * than pack_b's whole panels, so this form runs only where it saves panels (EP_GEMM_EXACT_SAVING). */
EP_INLINE void pack_b_exact(const gemm_job *j, float *restrict bp, const float *base, int64_t k0, int64_t kc,
                            int64_t q0, int64_t n) {
    enum { MAX_RUNS = EP_GEMM_NB * 32 + EP_GEMM_NB * 2 };
    int64_t roff[MAX_RUNS], rdst[MAX_RUNS], rlen[MAX_RUNS], runs = 0;
    const int64_t nr = j->nr, wo = j->wo, *koff = j->koff + k0;
    for (int64_t i = 0; i < n && runs < MAX_RUNS;) {
        const int64_t q = q0 + i, ox = q % wo, lane = i % nr;
        int64_t len = wo - ox;
        if (len > nr - lane) len = nr - lane;
        if (len > n - i) len = n - i;
        roff[runs] = (q / wo) * j->wph + ox;
        rdst[runs] = (i / nr) * kc * nr + lane;
        rlen[runs++] = len;
        i += len;
    }
    for (int64_t k = 0; k < kc; k++) {
        const float *src = base + koff[k];
        float *d = bp + k * nr;
        for (int64_t r = 0; r < runs; r++)
            memcpy(d + rdst[r], src + roff[r], (size_t)rlen[r] * sizeof(float));
    }
    if (n % nr) {
        float *tail = bp + (n / nr) * kc * nr;
        for (int64_t k = 0; k < kc; k++)
            for (int64_t i = n % nr; i < nr; i++) tail[k * nr + i] = 0.0f;
    }
}

/* The output rows a block of wide positions [q0, q0 + n) covers are walked as runs: row oy's run is the
 * positions [*lo, *hi) (output column *ox on), empty (0) where the block holds none of that row. Without
 * discarded columns (wph == wo) the block is one run of the output plane. */
EP_INLINE int64_t run_row_len(const gemm_job *j) { return j->wph == j->wo ? j->ho * j->wo : j->wph; }

EP_INLINE int row_run(const gemm_job *j, int64_t oy, int64_t q0, int64_t n, int64_t *lo, int64_t *hi, int64_t *ox) {
    const int64_t row_len = run_row_len(j), rs = oy * row_len;
    const int64_t end = j->wph == j->wo ? rs + j->ho * j->wo : rs + j->wo;
    *lo = rs > q0 ? rs : q0;
    *hi = end < q0 + n ? end : q0 + n;
    *ox = *lo - rs;
    return *lo < *hi;
}

/* d (len outputs holding sum + bias) + the residual run rr (NULL: none), then the activation */
EP_INLINE void finish_run(const gemm_job *j, float *d, const float *rr, int64_t len) {
    if (rr) {
        for (int64_t i = 0; i < len; i++) d[i] += rr[i];
    }
    if (j->act != EP_ACT_NONE) ep_act_run(d, d, len, j->act, j->alpha, j->beta);
}

/* act(strip + bias + residual) of the output positions [q0, q0 + n) of group g (the exact form: one run per
 * channel; channel r's sums at strip + r * ld) */
EP_INLINE void store_exact(const gemm_job *j, const float *strip, int64_t ld, int64_t g, int64_t q0, int64_t n) {
    const int64_t plane = j->ho * j->wo;
    float *y = j->y + (j->image * j->m + g * j->mg) * plane + q0;
    const float *res = j->residual ? j->residual + (j->image * j->m + g * j->mg) * plane + q0 : NULL;
    const float *bias = j->bias ? j->bias + g * j->mg : NULL;
    for (int64_t r = 0; r < j->mg; r++) {
        const float *t = strip + r * ld;
        float *d = y + r * plane;
        const float bv = bias ? bias[r] : 0.0f;
        for (int64_t i = 0; i < n; i++) d[i] = t[i] + bv;
        finish_run(j, d, res ? res + r * plane : NULL, n);
    }
}

/* act(strip + bias + residual) of a block of panels (wide positions [q0, q0 + n); channel r's sums at
 * strip + r * ld) into the output of group g */
EP_INLINE void store_panel(const gemm_job *j, const float *strip, int64_t ld, int64_t g, int64_t q0, int64_t n) {
    const int64_t wo = j->wo, plane = j->ho * wo;
    float *y = j->y + (j->image * j->m + g * j->mg) * plane;
    const float *res = j->residual ? j->residual + (j->image * j->m + g * j->mg) * plane : NULL;
    const float *bias = j->bias ? j->bias + g * j->mg : NULL;
    for (int64_t oy = q0 / run_row_len(j); oy * run_row_len(j) < q0 + n; oy++) {
        int64_t lo, hi, ox;
        if (!row_run(j, oy, q0, n, &lo, &hi, &ox)) continue;
        const int64_t len = hi - lo;
        for (int64_t r = 0; r < j->mg; r++) {
            const float *t = strip + r * ld + (lo - q0);
            float *d = y + r * plane + oy * wo + ox;
            const float bv = bias ? bias[r] : 0.0f;
            for (int64_t i = 0; i < len; i++) d[i] = t[i] + bv;
            finish_run(j, d, res ? res + r * plane + oy * wo + ox : NULL, len);
        }
    }
}

/* 64-byte aligned pointer into a buffer malloc'd 64 bytes larger */
static float *align64(void *p) { return (float *)(((uintptr_t)p + 63) & ~(uintptr_t)63); }

/* Scratch buffers: each thread keeps its largest buffer up to EP_SCRATCH_KEEP bytes per slot between
 * calls (freed when the thread ends), so that convolutions do not pay for malloc's fresh,
 * page-faulting mappings on every call; larger ones are malloc'd and freed per call. */
#define EP_SCRATCH_KEEP ((size_t)64 << 20)
#define EP_SCRATCH_SLOTS 2 /* 0: a part's packed B and tile strip; 1: the caller's phase planes and tables */

typedef struct {
    void *mem[EP_SCRATCH_SLOTS];
    size_t cap[EP_SCRATCH_SLOTS];
} scratch_set;

#ifdef EP_SCRATCH_TLS
static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;
static int scratch_key_ok;

static void scratch_release(void *p) {
    scratch_set *set = (scratch_set *)p;
    for (int i = 0; i < EP_SCRATCH_SLOTS; i++) free(set->mem[i]);
    free(set);
}

static void scratch_setup(void) { scratch_key_ok = pthread_key_create(&scratch_key, scratch_release) == 0; }

static scratch_set *thread_scratch(void) {
    if (pthread_once(&scratch_once, scratch_setup) != 0 || !scratch_key_ok) return NULL;
    scratch_set *set = (scratch_set *)pthread_getspecific(scratch_key);
    if (!set) {
        set = (scratch_set *)calloc(1, sizeof *set);
        if (set && pthread_setspecific(scratch_key, set) != 0) {
            free(set);
            set = NULL;
        }
    }
    return set;
}
#else
static scratch_set *thread_scratch(void) { return NULL; }
#endif

/* `bytes` of scratch from slot `slot` (64-byte aligned); *owned is set to a buffer scratch_done frees */
static void *scratch_get(int slot, size_t bytes, void **owned) {
    *owned = NULL;
    scratch_set *set = bytes <= EP_SCRATCH_KEEP ? thread_scratch() : NULL;
    if (!set) {
        *owned = malloc(bytes + 64);
        return *owned ? align64(*owned) : NULL;
    }
    if (set->cap[slot] < bytes) {
        free(set->mem[slot]);
        set->mem[slot] = malloc(bytes + 64);
        set->cap[slot] = set->mem[slot] ? bytes : 0;
        if (!set->mem[slot]) return NULL;
    }
    return align64(set->mem[slot]);
}

static void scratch_done(void *owned) { free(owned); }

/* One part: a run of (group, block of nb panels) items of the current image. */
EP_DISPATCH
static int gemm_part(void *ctx, int64_t part) {
    const gemm_job *j = (const gemm_job *)ctx;
    int64_t i0, i1;
    ep_part_range(j->group * j->blocks, j->parts, part, 1, &i0, &i1);
    if (i0 >= i1) return 0;
    const int64_t nr = j->nr, mp = j->mp, span = j->nb * nr;
    void *owned;
    float *bp = (float *)scratch_get(0, (size_t)(j->nb * (j->kc * nr + mp * nr)) * sizeof(float), &owned);
    if (!bp) return -1;
    float *strip = bp + j->nb * j->kc * nr; /* 64-byte aligned: nr is a multiple of 16 */
    for (int64_t it = i0; it < i1; it++) {
        const int64_t g = it / j->blocks, q0 = (it % j->blocks) * span;
        const int64_t n = q0 + span <= j->q ? span : j->q - q0, panels = (n + nr - 1) / nr;
        const float *base = j->planes + g * j->cg * j->chan_stride;
        const float *ag = j->ap + g * mp * j->kk;
        for (int64_t blk = 0; blk < j->kblocks; blk++) {
            const int64_t k0 = blk * j->kc, kc = k0 + j->kc <= j->kk ? j->kc : j->kk - k0;
            if (j->in_place) {
                /* few output channels: full panels are read in place, only a partial one is packed */
                if (n % nr) pack_b(j, bp + (n / nr) * kc * nr, base, k0, kc, q0 + n / nr * nr, n % nr);
            } else if (j->exact) {
                pack_b_exact(j, bp, base, k0, kc, q0, n);
            } else {
                pack_b(j, bp, base, k0, kc, q0, n);
            }
            /* the weight panels of the block are one run, swept once per panel of B; the next weight panel is
             * fetched while one computes */
            const float *ab = ag + k0 * mp, *aend = ab + mp * kc;
            for (int64_t p = 0; p < panels; p++) {
                const int in_place = j->in_place && (p + 1) * nr <= n;
                const float *b = in_place ? base + q0 + p * nr : bp + p * kc * nr;
                for (int64_t i = 0; i < mp; i += EP_GEMM_MR) {
                    const float *a = ab + i * kc, *next = a + EP_GEMM_MR * kc;
                    j->micro(kc, a, b, in_place ? j->koff + k0 : NULL, strip + i * span + p * nr, span, blk > 0,
                             next < aend ? next : NULL);
                }
            }
        }
        if (j->exact) store_exact(j, strip, span, g, q0, n);
        else store_panel(j, strip, span, g, q0, n);
    }
    scratch_done(owned);
    return 0;
}

/* The transposed form, for few output positions: the positions (a block of nb * MR of them) are packed as
 * A panels and broadcast, the weights (B panels of nr output channels) are the vectors, so that few
 * positions waste less of a vector. Tile (position panel i, channel panel jc) is MR positions x nr
 * channels; the store transposes it into the NCHW output. */
EP_INLINE void pack_positions(const gemm_job *j, float *restrict ap, const float *base, int64_t k0, int64_t kc,
                              int64_t q0, int64_t n) {
    const int64_t *koff = j->koff + k0, full = n / EP_GEMM_MR, rem = n % EP_GEMM_MR;
    const int64_t *po = j->pos_off + q0;
    for (int64_t p = 0; p < full; p++) {
        const int64_t *pp = po + p * EP_GEMM_MR;
        float *d = ap + p * kc * EP_GEMM_MR;
        for (int64_t k = 0; k < kc; k++, d += EP_GEMM_MR) {
            const float *src = base + koff[k];
            for (int64_t r = 0; r < EP_GEMM_MR; r++) d[r] = src[pp[r]];
        }
    }
    if (rem) {
        const int64_t *pp = po + full * EP_GEMM_MR;
        float *d = ap + full * kc * EP_GEMM_MR;
        for (int64_t k = 0; k < kc; k++, d += EP_GEMM_MR) {
            const float *src = base + koff[k];
            for (int64_t r = 0; r < EP_GEMM_MR; r++) d[r] = r < rem ? src[pp[r]] : 0.0f;
        }
    }
}

/* act(tiles + bias + residual) of the output positions [q0, q0 + n) of group g: tile (i, jc) at
 * strip + (jc * panels + i) * MR * nr, position row r, channel column cc, so position q's channel jc + cc is
 * at strip + jc * panels * MR + q * nr + cc */
EP_INLINE void store_transposed(const gemm_job *j, const float *strip, int64_t g, int64_t q0, int64_t n,
                                int64_t panels) {
    const int64_t plane = j->ho * j->wo, nr = j->nr;
    float *y = j->y + (j->image * j->m + g * j->mg) * plane + q0;
    const float *res = j->residual ? j->residual + (j->image * j->m + g * j->mg) * plane + q0 : NULL;
    const float *bias = j->bias ? j->bias + g * j->mg : NULL;
    for (int64_t jc = 0; jc < j->mg; jc += nr) {
        const float *t = strip + jc * panels * EP_GEMM_MR;
        const int64_t cols = j->mg - jc < nr ? j->mg - jc : nr;
        float *yc = y + jc * plane;
        for (int64_t i = 0; i < n; i++)
            for (int64_t cc = 0; cc < cols; cc++) yc[cc * plane + i] = t[i * nr + cc] + (bias ? bias[jc + cc] : 0.0f);
        for (int64_t cc = 0; cc < cols; cc++)
            finish_run(j, yc + cc * plane, res ? res + (jc + cc) * plane : NULL, n);
    }
}

/* One part of the transposed form: a run of (group, block of nb * MR positions) items. */
EP_DISPATCH
static int gemm_part_transposed(void *ctx, int64_t part) {
    const gemm_job *j = (const gemm_job *)ctx;
    int64_t i0, i1;
    ep_part_range(j->group * j->blocks, j->parts, part, 1, &i0, &i1);
    if (i0 >= i1) return 0;
    const int64_t nr = j->nr, mp = j->mp, span = j->nb * EP_GEMM_MR;
    void *owned;
    float *apos = (float *)scratch_get(0, (size_t)(span * j->kc + 16 + span * mp) * sizeof(float), &owned);
    if (!apos) return -1;
    float *strip = apos + (span * j->kc + 15) / 16 * 16; /* 64-byte aligned */
    for (int64_t it = i0; it < i1; it++) {
        const int64_t g = it / j->blocks, q0 = (it % j->blocks) * span;
        const int64_t n = q0 + span <= j->q ? span : j->q - q0, panels = (n + EP_GEMM_MR - 1) / EP_GEMM_MR;
        const float *base = j->planes + g * j->cg * j->chan_stride;
        const float *bw = j->ap + g * mp * j->kk;
        for (int64_t blk = 0; blk < j->kblocks; blk++) {
            const int64_t k0 = blk * j->kc, kc = k0 + j->kc <= j->kk ? j->kc : j->kk - k0;
            pack_positions(j, apos, base, k0, kc, q0, n);
            /* each weight panel (nr / MR times a position panel's size) is fetched while the previous computes */
            const float *wb = bw + k0 * mp, *wend = wb + mp * kc;
            for (int64_t jc = 0; jc < mp; jc += nr) {
                const float *next = wb + (jc + nr) * kc;
                for (int64_t i = 0; i < panels; i++) {
                    const float *pf = next + i * kc * EP_GEMM_MR;
                    j->micro(kc, apos + i * kc * EP_GEMM_MR, wb + jc * kc, NULL,
                             strip + ((jc / nr) * panels + i) * EP_GEMM_MR * nr, nr, blk > 0,
                             i * EP_GEMM_MR < nr && pf < wend ? pf : NULL);
                }
            }
        }
        store_transposed(j, strip, g, q0, n, panels);
    }
    scratch_done(owned);
    return 0;
}

/* multiply-adds a thread computes at least, and below which a call runs on one thread (a split call pays
 * 40-60 us for waking a worker on a 2-core VM, about 2M multiply-adds of one thread) */
#define EP_GEMM_GRAIN (1 << 20)
#define EP_GEMM_LEAST (1 << 22)
/* phase plane values a thread copies at least */
#define EP_PHASE_GRAIN (1 << 16)

/* y (n, m, ho, wo) = act(conv(x, w) + bias + residual) for x (n, c, h, wd) and the weights w (m, c /
 * group, kh, kw), the geometry given as shape = {n, c, h, wd, m, group, kh, kw, sh, sw, dh, dw, pt, pl, ho,
 * wo} (one pointer instead of 16 arguments: a call from ctypes costs less), the weights packed by ep_sgemm_pack_a_f32(w, group, m / group, c / group * kh * kw, ap). pt / pl
 * are the top / left pads (>= 0); the bottom / right pads are implied by ho / wo. bias (m) and residual
 * (y's shape) may be NULL. With weights_nr > 0, ap holds the weights packed by ep_sgemm_pack_b_f32(w, group,
 * m / group, c / group * kh * kw, weights_nr, ap) instead, for the transposed form (few output positions);
 * weights_nr must be ep_sgemm_nr(). Returns 0; -1 when a buffer does not fit in memory, -2 for a stride
 * below 1 or an unknown activation, -3 when weights_nr is not the micro-kernel's panel width. */
EP_DISPATCH
int ep_conv2d_gemm_f32(const float *x, const float *ap, int64_t weights_nr, const float *bias, const float *residual,
                       float *y, const int64_t *shape, int act, float alpha, float beta, int64_t threads) {
    const int64_t n = shape[0], c = shape[1], h = shape[2], wd = shape[3], m = shape[4], group = shape[5];
    const int64_t kh = shape[6], kw = shape[7], sh = shape[8], sw = shape[9], dh = shape[10], dw = shape[11];
    const int64_t pt = shape[12], pl = shape[13], ho = shape[14], wo = shape[15];
    if (n <= 0 || m <= 0 || ho <= 0 || wo <= 0 || c <= 0) return 0;
    if (sh < 1 || sw < 1 || act < 0 || act >= EP_ACT_COUNT) return -2;
    gemm_job j;
    memset(&j, 0, sizeof j);
    j.x = x; j.ap = ap; j.bias = bias; j.residual = residual; j.y = y;
    j.c = c; j.h = h; j.wd = wd; j.m = m; j.group = group; j.kh = kh; j.kw = kw; j.sh = sh; j.sw = sw;
    j.dh = dh; j.dw = dw; j.pt = pt; j.pl = pl; j.ho = ho; j.wo = wo; j.act = act; j.alpha = alpha; j.beta = beta;
    j.cg = c / group;
    j.mg = m / group;
    j.mp = (j.mg + EP_GEMM_MR - 1) / EP_GEMM_MR * EP_GEMM_MR;
    j.kk = j.cg * kh * kw;
    j.micro = pick_kernel(&j.nr);
    if (weights_nr != 0 && weights_nr != j.nr) return -3;
    j.transposed = weights_nr != 0;
    if (j.transposed) j.mp = (j.mg + j.nr - 1) / j.nr * j.nr;
    j.in_place = !j.transposed && j.mp <= EP_GEMM_IN_PLACE_M;
    j.hph = ho + (kh - 1) * dh / sh;
    j.wph = wo + (kw - 1) * dw / sw;
    if (!ep_sizes_fit(j.cg, kh, kw)) return -1;
    /* per tap, its slot; per slot, its phase */
    int64_t *tap_slot = (int64_t *)malloc((size_t)(3 * kh * kw) * sizeof(int64_t));
    if (!tap_slot) return -1;
    j.slot_py = tap_slot + kh * kw;
    j.slot_px = j.slot_py + kh * kw;
    for (int64_t t = 0; t < kh * kw; t++) {
        const int64_t py = (t / kw) * dh % sh, px = (t % kw) * dw % sw;
        int64_t s = 0;
        while (s < j.slots && (j.slot_py[s] != py || j.slot_px[s] != px)) s++;
        if (s == j.slots) {
            j.slot_py[s] = py;
            j.slot_px[s] = px;
            j.slots++;
        }
        tap_slot[t] = s;
    }
    /* stride 1 and no top / left pad: the input is its own (only) phase plane when every row and
     * column a tap reads lies inside it */
    const int direct = sh == 1 && sw == 1 && pt == 0 && pl == 0 && j.wph == wd && j.hph <= h;
    if (!ep_sizes_fit(j.slots, j.hph, j.wph) || !ep_sizes_fit(c, j.slots * j.hph, j.wph)) {
        free(tap_slot);
        return -1;
    }
    j.chan_stride = direct ? h * wd : j.slots * j.hph * j.wph;
    /* the transposed form gathers the output positions themselves, the packed usual form too where that saves
     * panels; else the usual form computes the wide positions (B read in place needs them) */
    const int64_t wide_q = (ho - 1) * j.wph + wo;
    j.exact = !j.transposed && !j.in_place &&
              (ho * wo + j.nr - 1) / j.nr * 16 <= (wide_q + j.nr - 1) / j.nr * EP_GEMM_EXACT_SAVING;
    j.q = j.transposed || j.exact ? ho * wo : wide_q;
    j.kc = block_rows(j.kk); /* as pack_panels blocked the weights */
    j.kblocks = (j.kk + j.kc - 1) / j.kc;
    void *owned = NULL;
    int64_t *koff = (int64_t *)malloc((size_t)(j.kk + (j.transposed ? j.q : 0)) * sizeof(int64_t));
    float *phases = direct ? NULL : (float *)scratch_get(1, (size_t)(c * j.chan_stride) * sizeof(float), &owned);
    if (!koff || (!direct && !phases)) {
        free(tap_slot);
        free(koff);
        scratch_done(owned);
        return -1;
    }
    for (int64_t ci = 0, k = 0; ci < j.cg; ci++)
        for (int64_t ky = 0; ky < kh; ky++)
            for (int64_t kx = 0; kx < kw; kx++, k++) {
                const int64_t s = tap_slot[ky * kw + kx];
                koff[k] = ci * j.chan_stride + s * j.hph * j.wph + (ky * dh / sh) * j.wph + kx * dw / sw;
            }
    j.koff = koff;
    if (j.transposed) {
        int64_t *pos_off = koff + j.kk;
        for (int64_t oy = 0; oy < ho; oy++)
            for (int64_t ox = 0; ox < wo; ox++) pos_off[oy * wo + ox] = oy * j.wph + ox;
        j.pos_off = pos_off;
    }
    j.phase_buf = phases;
    const double work = (double)group * (double)j.mp * (double)j.kk * (double)j.q;
    const int64_t parts =
        ep_parts_from(threads, work > 9.0e15 ? (int64_t)9.0e15 : (int64_t)work, EP_GEMM_GRAIN, EP_GEMM_LEAST);
    /* blocks of nb panels; fewer panels a block when there would be fewer blocks than parts */
    const int64_t width = j.transposed ? EP_GEMM_MR : j.nr, panels = (j.q + width - 1) / width;
    j.nb = j.transposed ? 2 * EP_GEMM_NB : EP_GEMM_NB;
    while (j.nb > 1 && group * ((panels + j.nb - 1) / j.nb) < parts) j.nb /= 2;
    if (j.nb > panels) j.nb = panels;
    j.blocks = (panels + j.nb - 1) / j.nb;
    const int64_t items = group * j.blocks;
    j.parts = parts < items ? parts : items;
    phase_job pj = {&j, 1};
    if (!direct) {
        const int64_t pparts = ep_parts_for(threads, c * j.chan_stride, EP_PHASE_GRAIN);
        pj.parts = pparts < c ? pparts : c;
    }
    int rc = 0;
    for (int64_t b = 0; b < n && rc == 0; b++) {
        j.image = b;
        j.planes = direct ? x + b * c * h * wd : phases;
        if (!direct) {
            if (pj.parts <= 1) phase_part(&pj, 0);
            else rc = ep_parallel_for(threads, pj.parts, phase_part, &pj);
        }
        const ep_part_fn part = j.transposed ? gemm_part_transposed : gemm_part;
        if (rc == 0) rc = j.parts <= 1 ? part(&j, 0) : ep_parallel_for(threads, j.parts, part, &j);
    }
    free(tap_slot);
    free(koff);
    scratch_done(owned);
    return rc;
}

/* ------------------------------------------------------------------ MatMul with a constant B */

/* bp = b (k rows of n floats) in panels of nr columns, k-major (bp[j][kk][cc] = b[kk][j * nr + cc]),
 * columns past n zero: the B operand of ep_sgemm_f32, packed once for a constant B. */
int ep_sgemm_pack_b_rows_f32(const float *b, int64_t k, int64_t n, int64_t nr, float *bp) {
    if (k <= 0 || n <= 0) return 0;
    if (nr <= 0) return -1;
    for (int64_t j0 = 0; j0 < n; j0 += nr) {
        float *panel = bp + j0 * k;
        const int64_t w = n - j0 < nr ? n - j0 : nr;
        for (int64_t kk = 0; kk < k; kk++) {
            memcpy(panel + kk * nr, b + kk * n + j0, (size_t)w * sizeof(float));
            for (int64_t cc = w; cc < nr; cc++) panel[kk * nr + cc] = 0.0f;
        }
    }
    return 0;
}

typedef struct {
    const float *a, *bp, *bias;
    float *c;
    int64_t m, n, k, nr, kc, kblocks, row_blocks, col_blocks, parts;
    micro_fn micro;
} mm_job;

/* rows of A a block takes (8 panels) and panels of B a block takes */
#define EP_MM_ROWS 64
#define EP_MM_PANELS 8

/* One part: a run of (row block, column block) items; A's rows are packed per item. */
EP_DISPATCH
static int mm_part(void *ctx, int64_t part) {
    const mm_job *j = (const mm_job *)ctx;
    int64_t i0, i1;
    ep_part_range(j->row_blocks * j->col_blocks, j->parts, part, 1, &i0, &i1);
    if (i0 >= i1) return 0;
    const int64_t nr = j->nr, ld = EP_MM_PANELS * nr;
    void *owned;
    float *ap = (float *)scratch_get(0, (size_t)(EP_MM_ROWS * j->kc + 16 + EP_MM_ROWS * ld) * sizeof(float), &owned);
    if (!ap) return -1;
    float *strip = ap + (EP_MM_ROWS * j->kc + 15) / 16 * 16;
    for (int64_t it = i0; it < i1; it++) {
        const int64_t r0 = (it / j->col_blocks) * EP_MM_ROWS, p0 = (it % j->col_blocks) * EP_MM_PANELS;
        const int64_t rows = j->m - r0 < EP_MM_ROWS ? j->m - r0 : EP_MM_ROWS, apanels = (rows + EP_GEMM_MR - 1) / EP_GEMM_MR;
        const int64_t panels_all = (j->n + nr - 1) / nr;
        const int64_t bpanels = panels_all - p0 < EP_MM_PANELS ? panels_all - p0 : EP_MM_PANELS;
        for (int64_t blk = 0; blk < j->kblocks; blk++) {
            const int64_t k0 = blk * j->kc, kc = k0 + j->kc <= j->k ? j->kc : j->k - k0;
            /* A panels: ap[i][kk][r] = a[r0 + i * MR + r][k0 + kk], rows past m zero */
            for (int64_t i = 0; i < apanels; i++)
                for (int64_t r = 0; r < EP_GEMM_MR; r++) {
                    const int64_t row = r0 + i * EP_GEMM_MR + r;
                    float *d = ap + i * kc * EP_GEMM_MR + r;
                    if (row < j->m) {
                        const float *src = j->a + row * j->k + k0;
                        for (int64_t kk = 0; kk < kc; kk++) d[kk * EP_GEMM_MR] = src[kk];
                    } else {
                        for (int64_t kk = 0; kk < kc; kk++) d[kk * EP_GEMM_MR] = 0.0f;
                    }
                }
            for (int64_t p = 0; p < bpanels; p++)
                for (int64_t i = 0; i < apanels; i++)
                    j->micro(kc, ap + i * kc * EP_GEMM_MR, j->bp + (p0 + p) * j->k * nr + k0 * nr, NULL,
                             strip + i * EP_GEMM_MR * ld + p * nr, ld, blk > 0, NULL);
        }
        const int64_t c0 = p0 * nr, cols = j->n - c0 < bpanels * nr ? j->n - c0 : bpanels * nr;
        for (int64_t r = 0; r < rows; r++) {
            float *d = j->c + (r0 + r) * j->n + c0;
            const float *t = strip + r * ld;
            if (j->bias) for (int64_t cc = 0; cc < cols; cc++) d[cc] = t[cc] + j->bias[c0 + cc];
            else memcpy(d, t, (size_t)cols * sizeof(float));
        }
    }
    scratch_done(owned);
    return 0;
}

/* c (m x n, rows n apart) = a (m x k, rows k apart) . b + bias (n, or NULL), with b packed by
 * ep_sgemm_pack_b_rows_f32(b, k, n, nr, bp); nr must be ep_sgemm_nr(). Split over blocks of rows and
 * columns; each element's k order is fixed, so the bits do not depend on the thread count. Returns 0; -1
 * when a buffer does not fit in memory, -3 when nr is not the micro-kernel's panel width. */
EP_DISPATCH
int ep_sgemm_f32(const float *a, const float *bp, int64_t nr, const float *bias, float *c, int64_t m, int64_t n,
                 int64_t k, int64_t threads) {
    if (m <= 0 || n <= 0) return 0;
    mm_job j;
    memset(&j, 0, sizeof j);
    j.micro = pick_kernel(&j.nr);
    if (nr != j.nr) return -3;
    if (k <= 0) {
        for (int64_t r = 0; r < m; r++)
            for (int64_t cc = 0; cc < n; cc++) c[r * n + cc] = bias ? bias[cc] : 0.0f;
        return 0;
    }
    j.a = a; j.bp = bp; j.bias = bias; j.c = c; j.m = m; j.n = n; j.k = k;
    j.kblocks = (k + EP_GEMM_KC - 1) / EP_GEMM_KC;
    j.kc = (k + j.kblocks - 1) / j.kblocks;
    j.row_blocks = (m + EP_MM_ROWS - 1) / EP_MM_ROWS;
    j.col_blocks = ((n + nr - 1) / nr + EP_MM_PANELS - 1) / EP_MM_PANELS;
    const double work = (double)m * (double)n * (double)k;
    const int64_t parts =
        ep_parts_from(threads, work > 9.0e15 ? (int64_t)9.0e15 : (int64_t)work, EP_GEMM_GRAIN, EP_GEMM_LEAST);
    const int64_t items = j.row_blocks * j.col_blocks;
    j.parts = parts < items ? parts : items;
    return j.parts <= 1 ? mm_part(&j, 0) : ep_parallel_for(threads, j.parts, mm_part, &j);
}
