/* ep_sgemm.c: blocked float32 matrix products (see ep_sgemm.h). */
#include <string.h>

#include "ep_sgemm.h"

#define EP_KC 256  /* depth of one cache block of b */

#if defined(__GNUC__) && defined(__AVX__) && !defined(EP_NO_VECTOR_EXT)
/* GCC / Clang vector extensions: loads and stores through memcpy (any alignment). Other compilers
 * take the plain C99 loops further down, which compute the same thing. */
#if !defined(__clang__)
/* the helpers below are static and inlined: no vector crosses an ABI boundary */
#pragma GCC diagnostic ignored "-Wpsabi"
#endif
#define EP_VEC 1
typedef float ep_v8 __attribute__((vector_size(32)));

/* the register block: EP_MR rows of c by EP_NR columns, two vectors of EP_VL floats per row (12
 * accumulators; 16-float vectors where the target has AVX-512, as its 32 registers allow) */
#if defined(__AVX512F__)
#define EP_VL 16
#else
#define EP_VL 8
#endif
#if defined(__AVX512F__)
#define EP_MR 8
#else
#define EP_MR 6
#endif
#define EP_NR (2 * EP_VL)
typedef float ep_vf __attribute__((vector_size(EP_VL * 4)));

static ep_vf ldv(const float *p)
{
    ep_vf v;
    memcpy(&v, p, sizeof v);
    return v;
}

static void stv(float *p, ep_vf v)
{
    memcpy(p, &v, sizeof v);
}

/* c[0..MR) x [0..NV * EP_VL) (+)= a block * b panel over kc steps; `acc_in` adds to what c holds. Row q
 * of b: the packed panel's, b + q * NV * EP_VL (ROWS 0), or rows[q] + col read in place (ROWS 1). pf (or
 * NULL): with b packed, the next block of a (rows sam apart, sak 1), whose first 256 columns are prefetched
 * a cache line every other step, so that weights too large for the caches stream in while this block
 * computes; with b in place, any non-NULL value: each row's strip two strips on is prefetched (rows far
 * apart, as a 1x1 Conv's input channels are, defeat the hardware's prefetch; measured 5-25 % on
 * layout_cdla's 1x1 convolutions of 64 outputs). */
#define EP_KERNEL_V(NAME, MR, NV, ROWS)                                                                  \
    static void NAME(int64_t kc, const float *a, int64_t sam, int64_t sak, const float *b,             \
                     const float *const *rows, int64_t col, float *c, int64_t ldc, int acc_in,        \
                     const float *pf)                                                                  \
    {                                                                                                  \
        ep_vf acc[MR][NV];                                                                             \
        int64_t q;                                                                                     \
        int r, v;                                                                                      \
        for (r = 0; r < MR; ++r) {                                                                     \
            for (v = 0; v < NV; ++v) {                                                                 \
                acc[r][v] = acc_in ? ldv(c + r * ldc + v * EP_VL) : (ep_vf){0};                        \
            }                                                                                          \
        }                                                                                              \
        for (q = 0; q < kc; ++q) {                                                                     \
            const float *bq = ROWS ? rows[q] + col : b + q * (NV * EP_VL);                              \
            if (ROWS && pf != NULL) {                                                                  \
                __builtin_prefetch(bq + 2 * EP_NR, 0, 3);                                              \
                __builtin_prefetch(bq + 2 * EP_NR + 16, 0, 3);                                         \
            } else if (pf != NULL && (q & 1) == 0 && q < 32 * EP_MR) {                                 \
                __builtin_prefetch(pf + (q >> 5) * sam + ((q >> 1) & 15) * 16, 0, 3);                  \
            }                                                                                          \
            ep_vf bv[NV];                                                                              \
            for (v = 0; v < NV; ++v) {                                                                 \
                bv[v] = ldv(bq + v * EP_VL);                                                           \
            }                                                                                          \
            for (r = 0; r < MR; ++r) {                                                                 \
                float x = a[r * sam + q * sak];                                                        \
                for (v = 0; v < NV; ++v) {                                                             \
                    acc[r][v] += bv[v] * x;                                                            \
                }                                                                                      \
            }                                                                                          \
        }                                                                                              \
        for (r = 0; r < MR; ++r) {                                                                     \
            for (v = 0; v < NV; ++v) {                                                                 \
                stv(c + r * ldc + v * EP_VL, acc[r][v]);                                               \
            }                                                                                          \
        }                                                                                              \
    }

/* the four kernels of MR rows: b packed or in place, one or two vectors of columns */
#define EP_KERNELS_V(MR)                               \
    EP_KERNEL_V(kernel_p_##MR##_1, MR, 1, 0)           \
    EP_KERNEL_V(kernel_p_##MR##_2, MR, 2, 0)           \
    EP_KERNEL_V(kernel_r_##MR##_1, MR, 1, 1)           \
    EP_KERNEL_V(kernel_r_##MR##_2, MR, 2, 1)

EP_KERNELS_V(1)
EP_KERNELS_V(2)
EP_KERNELS_V(3)
EP_KERNELS_V(4)
EP_KERNELS_V(5)
EP_KERNELS_V(6)
#if EP_MR == 8
EP_KERNELS_V(7)
EP_KERNELS_V(8)
#endif

typedef void (*kernel_fn)(int64_t, const float *, int64_t, int64_t, const float *, const float *const *, int64_t,
                          float *, int64_t, int, const float *);

#define EP_KERNEL_ROW(MR) {{kernel_p_##MR##_1, kernel_p_##MR##_2}, {kernel_r_##MR##_1, kernel_r_##MR##_2}}

/* kernel_table[mr - 1][in_place][nv - 1] */
static const kernel_fn kernel_table[EP_MR][2][2] = {
    EP_KERNEL_ROW(1), EP_KERNEL_ROW(2), EP_KERNEL_ROW(3), EP_KERNEL_ROW(4), EP_KERNEL_ROW(5), EP_KERNEL_ROW(6),
#if EP_MR == 8
    EP_KERNEL_ROW(7), EP_KERNEL_ROW(8),
#endif
};

/* from this many floats of a (4 MiB: twice L2), the kernels prefetch a's next block of rows, which is then
 * read from L3 or memory (measured, caches cold: about 6 % on 512 x 4608 weights; none on 256 x 2304 ones,
 * and a few % lost where they were warm) */
#define EP_STREAM_A (1 << 20)

/* b's strips are read in place (not packed) for fewer rows of a than this: each packed value would serve
 * too few multiply-adds to pay for its copy */
#define EP_IN_PLACE_M (16 * EP_MR)

/* dst (kc rows of `width` floats) = columns [j0, j0 + nr) of the k block whose row q starts at rows[q],
 * zero-padded to `width`: column j at rows[q][j * sbn], or with run > 0 (ep_sgemm_nn_runs) at
 * rows[q][(j / run) * pitch + j % run], copied as the runs of consecutive columns the strip holds */
static void pack_strip(const float *const *rows, int64_t j0, int64_t sbn, int64_t run, int64_t pitch, int64_t kc,
                       int64_t nr, int64_t width, float *dst)
{
    int64_t roff[EP_NR], rdst[EP_NR], rlen[EP_NR], runs = 0, q, j, t;
    for (j = 0; run > 0 && j < nr; j += rlen[runs++]) {
        int64_t x = (j0 + j) % run;
        roff[runs] = ((j0 + j) / run) * pitch + x;
        rdst[runs] = j;
        rlen[runs] = run - x < nr - j ? run - x : nr - j;
    }
    for (q = 0; q < kc; ++q) {
        float *row = dst + q * width;
        const float *src = rows[q];
        if (run > 0) {
            for (t = 0; t < runs; ++t) { /* short runs: a loop costs less than a call */
                for (j = 0; j < rlen[t]; ++j) {
                    row[rdst[t] + j] = src[roff[t] + j];
                }
            }
        } else if (sbn == 1) {
            memcpy(row, src + j0, (size_t)nr * sizeof(float));
        } else {
            for (j = 0; j < nr; ++j) {
                row[j] = src[(j0 + j) * sbn];
            }
        }
        for (j = nr; j < width; ++j) {
            row[j] = 0.0f;
        }
    }
}
#else
#define EP_MR 4
#define EP_NR 16
#define EP_VL EP_NR

/* c[0..MR) x [0..EP_NR) (+)= a block * b strip over kc steps; `acc_in` adds to what c holds. */
#define EP_KERNEL_NN(MR)                                                                              \
    static void kernel_nn_##MR(int64_t kc, const float *a, int64_t sam, int64_t sak,                  \
                               const float *const *rows, int64_t col, float *c, int64_t ldc,         \
                               int acc_in)                                                           \
    {                                                                                                 \
        float acc[MR][EP_NR];                                                                         \
        int64_t r, q, jj;                                                                             \
        for (r = 0; r < MR; ++r) {                                                                    \
            for (jj = 0; jj < EP_NR; ++jj) {                                                          \
                acc[r][jj] = acc_in ? c[r * ldc + jj] : 0.0f;                                         \
            }                                                                                         \
        }                                                                                             \
        for (q = 0; q < kc; ++q) {                                                                    \
            const float *bq = rows[q] + col;                                                          \
            for (r = 0; r < MR; ++r) {                                                                \
                float av = a[r * sam + q * sak];                                                      \
                for (jj = 0; jj < EP_NR; ++jj) {                                                      \
                    acc[r][jj] += av * bq[jj];                                                        \
                }                                                                                     \
            }                                                                                         \
        }                                                                                             \
        for (r = 0; r < MR; ++r) {                                                                    \
            for (jj = 0; jj < EP_NR; ++jj) {                                                          \
                c[r * ldc + jj] = acc[r][jj];                                                         \
            }                                                                                         \
        }                                                                                             \
    }

EP_KERNEL_NN(1)
EP_KERNEL_NN(2)
EP_KERNEL_NN(3)
EP_KERNEL_NN(4)

/* mr <= EP_MR rows by EP_NR columns (nv is always 1 here: one "vector" of EP_NR) */
static void kernel_block(int64_t mr, int nv, int64_t kc, const float *a, int64_t sam, int64_t sak,
                         const float *const *rows, int64_t col, float *c, int64_t ldc, int acc_in)
{
    (void)nv;
    if (mr == 4) {
        kernel_nn_4(kc, a, sam, sak, rows, col, c, ldc, acc_in);
    } else if (mr == 3) {
        kernel_nn_3(kc, a, sam, sak, rows, col, c, ldc, acc_in);
    } else if (mr == 2) {
        kernel_nn_2(kc, a, sam, sak, rows, col, c, ldc, acc_in);
    } else {
        kernel_nn_1(kc, a, sam, sak, rows, col, c, ldc, acc_in);
    }
}

/* the ragged right edge: mr <= EP_MR rows, nr < EP_NR columns */
static void kernel_nn_edge(int64_t mr, int64_t nr, int64_t kc, const float *a, int64_t sam, int64_t sak,
                           const float *const *rows, int64_t col, float *c, int64_t ldc, int acc_in)
{
    float acc[EP_MR][EP_VL];
    int64_t r, q, jj;
    for (r = 0; r < mr; ++r) {
        for (jj = 0; jj < nr; ++jj) {
            acc[r][jj] = acc_in ? c[r * ldc + jj] : 0.0f;
        }
    }
    for (q = 0; q < kc; ++q) {
        const float *bq = rows[q] + col;
        for (r = 0; r < mr; ++r) {
            float av = a[r * sam + q * sak];
            for (jj = 0; jj < nr; ++jj) {
                acc[r][jj] += av * bq[jj];
            }
        }
    }
    for (r = 0; r < mr; ++r) {
        for (jj = 0; jj < nr; ++jj) {
            c[r * ldc + jj] = acc[r][jj];
        }
    }
}
#endif

/* rows[0..kc) = where rows p0 .. p0 + kc - 1 of g's right operand start (ep_sgemm.h) */
static void fill_rows(const ep_sgemm_rows *g, int64_t p0, int64_t kc, const float **rows)
{
    int64_t ci = p0 / g->taps, t = p0 % g->taps, q;
    for (q = 0; q < kc; ++q) {
        rows[q] = g->b + ci * g->cstride + (g->toff ? g->toff[t] : 0);
        if (++t == g->taps) {
            t = 0;
            ++ci;
        }
    }
}

#ifdef EP_VEC
/* rows of each block of k: at most EP_KC, as even as the blocks can be */
static int64_t k_block(int64_t k)
{
    int64_t blocks = (k + EP_KC - 1) / EP_KC;
    return (k + blocks - 1) / blocks;
}

/* c (m x n) = a (m x k) * b (k x n): element (i, q) of a at a[i * sam + q * sak]; (q, j) of b at row(q)[j * sbn],
 * or with run > 0 at row(q)[(j / run) * pitch + j % run] (sbn 1), row(q) as g places it. Per block of k, per
 * strip of EP_NR columns (packed into an aligned buffer, unless read in place), every block of EP_MR rows of a:
 * the strip stays in L1 while a streams past it. Each element of c is summed in k order whatever the blocks. */
static void sgemm_core(int64_t m, int64_t n, int64_t k, const float *a, int64_t sam, int64_t sak,
                       const ep_sgemm_rows *g, int64_t sbn, int64_t run, int64_t pitch, float *c, int64_t ldc)
{
    int64_t p0, j, i, kcb = k_block(k);
    int stream = sak == 1 && m * k >= EP_STREAM_A; /* the kernels prefetch a's next block */
    const float *rows[EP_KC]; /* where each row of the k block starts */
    /* one strip of b: 16 KiB (32 KiB with AVX-512) of stack, aligned for the vector loads */
    float packed[EP_KC * EP_NR] __attribute__((aligned(64)));
    if (k == 0) {
        for (i = 0; i < m; ++i) {
            memset(c + i * ldc, 0, (size_t)n * sizeof(float));
        }
        return;
    }
    for (p0 = 0; p0 < k; p0 += kcb) {
        int64_t kc = k - p0 < kcb ? k - p0 : kcb;
        int acc_in = p0 > 0;
        fill_rows(g, p0, kc, rows);
        for (j = 0; j < n;) {
            /* a strip of columns: EP_NR wide, else one vector wide, else the narrow rest (padded to a vector) */
            int nv = n - j >= EP_NR ? EP_NR / EP_VL : n - j >= EP_VL ? 1 : 0;
            int64_t nr = nv ? nv * EP_VL : n - j;
            int in_place = nv && sbn == 1 && run == 0 && m < EP_IN_PLACE_M;
            if (!in_place) {
                pack_strip(rows, j, sbn, run, pitch, kc, nr, nv ? nr : EP_VL, packed);
            }
            for (i = 0; i < m; i += EP_MR) {
                int64_t mr = m - i < EP_MR ? m - i : EP_MR;
                const float *as = a + i * sam + p0 * sak;
                float *cs = c + i * ldc + j;
                kernel_fn f = kernel_table[mr - 1][in_place][nv > 1];
                const float *pf = in_place ? (i == 0 && j + 3 * EP_NR <= n ? as : NULL)
                                           : (stream && i + EP_MR < m ? as + EP_MR * sam : NULL);
                if (nv) {
                    f(kc, as, sam, sak, packed, rows, j, cs, ldc, acc_in, pf);
                } else { /* the narrow rest: one vector into a block on the stack, its nr columns copied */
                    float block[EP_MR * EP_VL];
                    int64_t r, x;
                    for (r = 0; acc_in && r < mr; ++r) {
                        for (x = 0; x < EP_VL; ++x) {
                            block[r * EP_VL + x] = x < nr ? cs[r * ldc + x] : 0.0f;
                        }
                    }
                    f(kc, as, sam, sak, packed, rows, j, block, EP_VL, acc_in, pf);
                    for (r = 0; r < mr; ++r) {
                        for (x = 0; x < nr; ++x) {
                            cs[r * ldc + x] = block[r * EP_VL + x];
                        }
                    }
                }
            }
            j += nr;
        }
    }
}

static void sgemm_blocked(int64_t m, int64_t n, int64_t k, const float *a, int64_t sam, int64_t sak,
                          const ep_sgemm_rows *g, int64_t sbn, float *c, int64_t ldc)
{
    sgemm_core(m, n, k, a, sam, sak, g, sbn, 0, 0, c, ldc);
}
#else
/* c (m x n) = a (m x k) * b (k x n): element (i, q) of a at a[i * sam + q * sak], (q, j) of b at
 * row(q)[j * sbn], row(q) as g places it (sbn is always 1 here: only the vector kernels pack b) */
static void sgemm_blocked(int64_t m, int64_t n, int64_t k, const float *a, int64_t sam, int64_t sak,
                          const ep_sgemm_rows *g, int64_t sbn, float *c, int64_t ldc)
{
    int64_t p0, j, i;
    const float *rows[EP_KC]; /* where each row of the k block starts */
    if (k == 0) {
        for (i = 0; i < m; ++i) {
            memset(c + i * ldc, 0, (size_t)n * sizeof(float));
        }
        return;
    }
    for (p0 = 0; p0 < k; p0 += EP_KC) {
        int64_t kc = k - p0 < EP_KC ? k - p0 : EP_KC;
        int acc_in = p0 > 0;
        fill_rows(g, p0, kc, rows);
        for (j = 0; j < n;) {
            int64_t nr = n - j >= EP_NR ? EP_NR : n - j;
            for (i = 0; i < m; i += EP_MR) {
                int64_t mr = m - i < EP_MR ? m - i : EP_MR;
                const float *as = a + i * sam + p0 * sak;
                float *cs = c + i * ldc + j;
                if (nr == EP_NR) {
                    kernel_block(mr, 1, kc, as, sam, sak, rows, j * sbn, cs, ldc, acc_in);
                } else {
                    kernel_nn_edge(mr, nr, kc, as, sam, sak, rows, j * sbn, cs, ldc, acc_in);
                }
            }
            j += nr;
        }
    }
}
#endif

void ep_sgemm_nn(int64_t m, int64_t n, int64_t k, const float *a, int64_t sam, int64_t sak,
                 const float *b, int64_t ldb, float *c, int64_t ldc)
{
    ep_sgemm_rows g;
    g.b = b;
    g.taps = 1;
    g.cstride = ldb;
    g.toff = NULL;
    sgemm_blocked(m, n, k, a, sam, sak, &g, 1, c, ldc);
}

void ep_sgemm_nn_rows(int64_t m, int64_t n, int64_t k, const float *a, int64_t sam, int64_t sak,
                      const ep_sgemm_rows *b, float *c, int64_t ldc)
{
    sgemm_blocked(m, n, k, a, sam, sak, b, 1, c, ldc);
}

void ep_sgemm_nn_runs(int64_t m, int64_t n, int64_t k, const float *a, int64_t sam, int64_t sak,
                      const ep_sgemm_rows *b, int64_t run, int64_t pitch, float *c, int64_t ldc)
{
#ifdef EP_VEC
    sgemm_core(m, n, k, a, sam, sak, b, 1, run, pitch, c, ldc);
#else
    /* one product per run: its columns are consecutive in every row of b */
    ep_sgemm_rows g = *b;
    int64_t j;
    for (j = 0; j < n; j += run) {
        g.b = b->b + (j / run) * pitch;
        sgemm_blocked(m, n - j < run ? n - j : run, k, a, sam, sak, &g, 1, c + j, ldc);
    }
#endif
}

#ifndef EP_VEC
/* one row of a against `nb` (<= 4) rows of b: dot products in 8 partial sums each */
static void kernel_nt(int64_t nb, int64_t k, const float *a, const float *b, int64_t ldb, float *c)
{
    float acc[4][8];
    int64_t t, q, l;
    int64_t kv = k - k % 8;
    for (t = 0; t < 4; ++t) {
        for (l = 0; l < 8; ++l) {
            acc[t][l] = 0.0f;
        }
    }
    if (nb == 4) {
        const float *b0 = b, *b1 = b + ldb, *b2 = b + 2 * ldb, *b3 = b + 3 * ldb;
        for (q = 0; q < kv; q += 8) {
            for (l = 0; l < 8; ++l) {
                float av = a[q + l];
                acc[0][l] += av * b0[q + l];
                acc[1][l] += av * b1[q + l];
                acc[2][l] += av * b2[q + l];
                acc[3][l] += av * b3[q + l];
            }
        }
    } else {
        for (t = 0; t < nb; ++t) {
            const float *bt = b + t * ldb;
            for (q = 0; q < kv; q += 8) {
                for (l = 0; l < 8; ++l) {
                    acc[t][l] += a[q + l] * bt[q + l];
                }
            }
        }
    }
    for (t = 0; t < nb; ++t) {
        const float *bt = b + t * ldb;
        float s = 0.0f;
        for (l = 0; l < 8; ++l) {
            s += acc[t][l];
        }
        for (q = kv; q < k; ++q) {
            s += a[q] * bt[q];
        }
        c[t] = s;
    }
}

#endif

#ifdef EP_VEC
/* rows of a per block of the dot-product kernels: 4 with 32 vector registers (16 partial sums), else 2 */
#if EP_VL == 16
#define EP_NT_MA 4
#else
#define EP_NT_MA 2
#endif
#define EP_NT_KC 1024 /* depth of one block of k: EP_NT_MA rows of a and 4 of b stay in L1 */
/* from this many rows of a, b^T is packed into the blocked product's strips (the packing then pays) */
#define EP_NT_PACKED_M 32

typedef float ep_v4 __attribute__((vector_size(16)));

/* the sum of v's lanes, halving the vector (lane order of the sum: a tree, not left to right) */
static float hsum(ep_vf v)
{
    ep_v8 h8, lo8, hi8;
    ep_v4 lo4, hi4;
#if EP_VL == 16
    memcpy(&lo8, &v, sizeof lo8);
    memcpy(&hi8, (const char *)&v + sizeof lo8, sizeof hi8);
    h8 = lo8 + hi8;
#else
    h8 = v;
    (void)lo8;
    (void)hi8;
#endif
    memcpy(&lo4, &h8, sizeof lo4);
    memcpy(&hi4, (const char *)&h8 + sizeof lo4, sizeof hi4);
    lo4 += hi4;
    return (lo4[0] + lo4[2]) + (lo4[1] + lo4[3]);
}

/* c[0..MA) x [0..NB) (+)= MA rows of a . NB rows of b over k: MA * NB vectors of partial sums, each row
 * loaded once per step, the last k % EP_VL elements summed one by one; `acc_in` adds to what c holds */
#define EP_KERNEL_NT(MA, NB)                                                                             \
    static void kernel_nt_##MA##_##NB(int64_t k, const float *a, int64_t lda, const float *b,           \
                                      int64_t ldb, float *c, int64_t ldc, int acc_in)                    \
    {                                                                                                    \
        ep_vf acc[MA][NB];                                                                               \
        int64_t ke = k - k % EP_VL, q;                                                                   \
        int r, t;                                                                                        \
        for (r = 0; r < MA; ++r) {                                                                       \
            for (t = 0; t < NB; ++t) {                                                                   \
                acc[r][t] = (ep_vf){0};                                                                  \
            }                                                                                            \
        }                                                                                                \
        for (q = 0; q < ke; q += EP_VL) {                                                                \
            ep_vf bv[NB];                                                                                \
            for (t = 0; t < NB; ++t) {                                                                   \
                bv[t] = ldv(b + t * ldb + q);                                                            \
            }                                                                                            \
            for (r = 0; r < MA; ++r) {                                                                   \
                ep_vf av = ldv(a + r * lda + q);                                                         \
                for (t = 0; t < NB; ++t) {                                                               \
                    acc[r][t] += av * bv[t];                                                             \
                }                                                                                        \
            }                                                                                            \
        }                                                                                                \
        for (r = 0; r < MA; ++r) {                                                                       \
            for (t = 0; t < NB; ++t) {                                                                   \
                float s = hsum(acc[r][t]);                                                               \
                for (q = ke; q < k; ++q) {                                                               \
                    s += a[r * lda + q] * b[t * ldb + q];                                                \
                }                                                                                        \
                c[r * ldc + t] = acc_in ? c[r * ldc + t] + s : s;                                        \
            }                                                                                            \
        }                                                                                                \
    }

EP_KERNEL_NT(1, 1)
EP_KERNEL_NT(1, 2)
EP_KERNEL_NT(1, 3)
EP_KERNEL_NT(1, 4)
EP_KERNEL_NT(2, 1)
EP_KERNEL_NT(2, 2)
EP_KERNEL_NT(2, 3)
EP_KERNEL_NT(2, 4)
#if EP_NT_MA == 4
EP_KERNEL_NT(3, 1)
EP_KERNEL_NT(3, 2)
EP_KERNEL_NT(3, 3)
EP_KERNEL_NT(3, 4)
EP_KERNEL_NT(4, 1)
EP_KERNEL_NT(4, 2)
EP_KERNEL_NT(4, 3)
EP_KERNEL_NT(4, 4)
#endif

typedef void (*kernel_nt_fn)(int64_t, const float *, int64_t, const float *, int64_t, float *, int64_t,
                             int);

/* c = a b^T for few rows of a, as dot products (b is not packed): per block of k, each 4 rows of b meet
 * every block of a's rows (a's block stays in L2, the 4 rows of b in L1), so b is read once. */
static void sgemm_nt_dot(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *b,
                         int64_t ldb, float *c, int64_t ldc)
{
    static const kernel_nt_fn table[EP_NT_MA][4] = {
        {kernel_nt_1_1, kernel_nt_1_2, kernel_nt_1_3, kernel_nt_1_4},
        {kernel_nt_2_1, kernel_nt_2_2, kernel_nt_2_3, kernel_nt_2_4},
#if EP_NT_MA == 4
        {kernel_nt_3_1, kernel_nt_3_2, kernel_nt_3_3, kernel_nt_3_4},
        {kernel_nt_4_1, kernel_nt_4_2, kernel_nt_4_3, kernel_nt_4_4},
#endif
    };
    int64_t p0, i, j;
    for (p0 = 0; p0 < k; p0 += EP_NT_KC) {
        int64_t kc = k - p0 < EP_NT_KC ? k - p0 : EP_NT_KC;
        for (j = 0; j < n; j += 4) {
            int64_t nb = n - j < 4 ? n - j : 4;
            for (i = 0; i < m; i += EP_NT_MA) {
                int64_t ma = m - i < EP_NT_MA ? m - i : EP_NT_MA;
                table[ma - 1][nb - 1](kc, a + i * lda + p0, lda, b + j * ldb + p0, ldb, c + i * ldc + j, ldc,
                                      p0 > 0);
            }
        }
    }
}
#endif

void ep_sgemm_nt(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *b, int64_t ldb,
                 float *c, int64_t ldc)
{
#ifdef EP_VEC
    int64_t i;
    if (m >= EP_NT_PACKED_M && n >= EP_VL) {
        ep_sgemm_rows g;
        g.b = b;
        g.taps = 1;
        g.cstride = 1;
        g.toff = NULL;
        sgemm_blocked(m, n, k, a, lda, 1, &g, ldb, c, ldc);
        return;
    }
    if (k == 0) {
        for (i = 0; i < m; ++i) {
            memset(c + i * ldc, 0, (size_t)n * sizeof(float));
        }
        return;
    }
    sgemm_nt_dot(m, n, k, a, lda, b, ldb, c, ldc);
#else
    /* rows of b per block: about 128 KiB of b stays in cache while every row of a passes */
    int64_t jb = k > 0 ? (32768 / k) / 4 * 4 : n;
    int64_t i, j, j0;
    if (jb < 4) {
        jb = 4;
    }
    for (j0 = 0; j0 < n; j0 += jb) {
        int64_t j1 = n - j0 < jb ? n : j0 + jb;
        for (i = 0; i < m; ++i) {
            for (j = j0; j < j1; j += 4) {
                kernel_nt(j1 - j < 4 ? j1 - j : 4, k, a + i * lda, b + j * ldb, ldb, c + i * ldc + j);
            }
        }
    }
#endif
}
