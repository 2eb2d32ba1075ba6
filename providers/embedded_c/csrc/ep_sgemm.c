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

static ep_v8 ld8(const float *p)
{
    ep_v8 v;
    memcpy(&v, p, sizeof v);
    return v;
}

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

/* c[0..MR) x [0..NV * EP_VL) (+)= a block * b strip over kc steps; `acc_in` adds to what c holds */
#define EP_KERNEL_V(MR, NV)                                                                              \
    static void kernel_v_##MR##_##NV(int64_t kc, const float *a, int64_t sam, int64_t sak,              \
                                     const float *const *rows, int64_t col, float *c, int64_t ldc,       \
                                     int acc_in)                                                         \
    {                                                                                                    \
        ep_vf acc[MR][NV];                                                                               \
        int64_t q;                                                                                       \
        int r, v;                                                                                        \
        for (r = 0; r < MR; ++r) {                                                                       \
            for (v = 0; v < NV; ++v) {                                                                   \
                acc[r][v] = acc_in ? ldv(c + r * ldc + v * EP_VL) : (ep_vf){0};                          \
            }                                                                                            \
        }                                                                                                \
        for (q = 0; q < kc; ++q) {                                                                       \
            const float *bq = rows[q] + col;                                                             \
            ep_vf bv[NV];                                                                                \
            for (v = 0; v < NV; ++v) {                                                                   \
                bv[v] = ldv(bq + v * EP_VL);                                                             \
            }                                                                                            \
            for (r = 0; r < MR; ++r) {                                                                   \
                float x = a[r * sam + q * sak];                                                          \
                for (v = 0; v < NV; ++v) {                                                               \
                    acc[r][v] += bv[v] * x;                                                              \
                }                                                                                        \
            }                                                                                            \
        }                                                                                                \
        for (r = 0; r < MR; ++r) {                                                                       \
            for (v = 0; v < NV; ++v) {                                                                   \
                stv(c + r * ldc + v * EP_VL, acc[r][v]);                                                 \
            }                                                                                            \
        }                                                                                                \
    }

EP_KERNEL_V(1, 1)
EP_KERNEL_V(2, 1)
EP_KERNEL_V(3, 1)
EP_KERNEL_V(4, 1)
EP_KERNEL_V(5, 1)
EP_KERNEL_V(6, 1)
#if EP_MR == 8
EP_KERNEL_V(7, 1)
EP_KERNEL_V(8, 1)
#endif
EP_KERNEL_V(1, 2)
EP_KERNEL_V(2, 2)
EP_KERNEL_V(3, 2)
EP_KERNEL_V(4, 2)
EP_KERNEL_V(5, 2)
EP_KERNEL_V(6, 2)
#if EP_MR == 8
EP_KERNEL_V(7, 2)
EP_KERNEL_V(8, 2)
#endif

/* dst (kc rows of `width` floats) = the kc x nr block of b whose element (q, j) is rows[q][col + j * sbn],
 * zero-padded to `width` columns, and packed[q] = its row q: the kernels then read it as one stream with
 * unit stride, whatever b's layout (rows far apart, as im2col's are, or b transposed) */
static void pack_block(const float *const *rows, int64_t col, int64_t sbn, int64_t kc, int64_t nr, int64_t width,
                       float *dst, const float **packed)
{
    int64_t q, j;
    for (q = 0; q < kc; ++q) {
        float *row = dst + q * width;
        if (sbn == 1) {
            memcpy(row, rows[q] + col, (size_t)nr * sizeof(float));
        } else {
            for (j = 0; j < nr; ++j) {
                row[j] = rows[q][col + j * sbn];
            }
        }
        memset(row + nr, 0, (size_t)(width - nr) * sizeof(float));
        packed[q] = row;
    }
}

typedef void (*kernel_fn)(int64_t, const float *, int64_t, int64_t, const float *const *, int64_t, float *, int64_t,
                          int);

/* mr <= EP_MR rows by nv (1 or 2) vectors of columns */
static void kernel_block(int64_t mr, int nv, int64_t kc, const float *a, int64_t sam, int64_t sak,
                         const float *const *rows, int64_t col, float *c, int64_t ldc, int acc_in)
{
    static const kernel_fn table[2][EP_MR] = {
#if EP_MR == 8
        {kernel_v_1_1, kernel_v_2_1, kernel_v_3_1, kernel_v_4_1, kernel_v_5_1, kernel_v_6_1, kernel_v_7_1, kernel_v_8_1},
        {kernel_v_1_2, kernel_v_2_2, kernel_v_3_2, kernel_v_4_2, kernel_v_5_2, kernel_v_6_2, kernel_v_7_2, kernel_v_8_2},
#else
        {kernel_v_1_1, kernel_v_2_1, kernel_v_3_1, kernel_v_4_1, kernel_v_5_1, kernel_v_6_1},
        {kernel_v_1_2, kernel_v_2_2, kernel_v_3_2, kernel_v_4_2, kernel_v_5_2, kernel_v_6_2},
#endif
    };
    table[nv - 1][mr - 1](kc, a, sam, sak, rows, col, c, ldc, acc_in);
}

/* the ragged right edge: mr <= EP_MR rows by the last nr < EP_VL columns, from b's tail padded to
 * one vector (pack_block, width EP_VL): the one-vector kernel into a block on the stack, of which
 * the nr real columns are copied out */
static void kernel_nn_edge(int64_t mr, int64_t nr, int64_t kc, const float *a, int64_t sam, int64_t sak,
                           const float *const *rows, int64_t col, float *c, int64_t ldc, int acc_in)
{
    float block[EP_MR * EP_VL];
    int64_t r;
    memset(block, 0, sizeof block);
    for (r = 0; acc_in && r < mr; ++r) {
        memcpy(block + r * EP_VL, c + r * ldc, (size_t)nr * sizeof(float));
    }
    kernel_block(mr, 1, kc, a, sam, sak, rows, col, block, EP_VL, acc_in);
    for (r = 0; r < mr; ++r) {
        memcpy(c + r * ldc, block + r * EP_VL, (size_t)nr * sizeof(float));
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

/* c (m x n) = a (m x k) * b (k x n): element (i, q) of a at a[i * sam + q * sak], (q, j) of b at
 * row(q)[j * sbn], row(q) as g places it (sbn is 1 unless the vector kernels pack b) */
static void sgemm_blocked(int64_t m, int64_t n, int64_t k, const float *a, int64_t sam, int64_t sak,
                          const ep_sgemm_rows *g, int64_t sbn, float *c, int64_t ldc)
{
    int64_t p0, j, i;
    const float *rows[EP_KC]; /* where each row of the k block starts */
#ifdef EP_VEC
    float packed[EP_KC * EP_NR]; /* one strip of b: 16 KiB (32 KiB with AVX-512) of stack */
    const float *packed_rows[EP_KC];
#endif
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
            /* a strip of columns: EP_NR wide, else one vector wide, else the narrow rest */
            int nv = n - j >= EP_NR ? EP_NR / EP_VL : n - j >= EP_VL ? 1 : 0;
            int64_t nr = nv ? nv * EP_VL : n - j;
            const float *const *rs = rows;
            int64_t col = j * sbn;
#ifdef EP_VEC
            /* packed once, read by every block of rows: always for a transposed b or the tail (the
             * kernels need whole vectors of unit stride), else when there are many blocks of rows */
            if (!nv || sbn != 1 || m >= 16 * EP_MR) {
                pack_block(rows, col, sbn, kc, nr, nv ? nr : EP_VL, packed, packed_rows);
                rs = packed_rows;
                col = 0;
            }
#endif
            for (i = 0; i < m; i += EP_MR) {
                int64_t mr = m - i < EP_MR ? m - i : EP_MR;
                const float *as = a + i * sam + p0 * sak;
                float *cs = c + i * ldc + j;
                if (nv) {
                    kernel_block(mr, nv, kc, as, sam, sak, rs, col, cs, ldc, acc_in);
                } else {
                    kernel_nn_edge(mr, nr, kc, as, sam, sak, rs, col, cs, ldc, acc_in);
                }
            }
            j += nr;
        }
    }
}

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

#ifdef EP_VEC
/* one row of a against `nb` (<= 4) rows of b: dot products in eight-lane partial sums */
static void kernel_nt(int64_t nb, int64_t k, const float *a, const float *b, int64_t ldb, float *c)
{
    int64_t kv = k - k % 8, q, t, l;
    if (nb == 4) {
        const float *b0 = b, *b1 = b + ldb, *b2 = b + 2 * ldb, *b3 = b + 3 * ldb;
        ep_v8 s0 = (ep_v8){0}, s1 = (ep_v8){0}, s2 = (ep_v8){0}, s3 = (ep_v8){0};
        float out[4];
        for (q = 0; q < kv; q += 8) {
            ep_v8 av = ld8(a + q);
            s0 += av * ld8(b0 + q);
            s1 += av * ld8(b1 + q);
            s2 += av * ld8(b2 + q);
            s3 += av * ld8(b3 + q);
        }
        for (t = 0; t < 4; ++t) {
            ep_v8 sv = t == 0 ? s0 : t == 1 ? s1 : t == 2 ? s2 : s3;
            const float *bt = b + t * ldb;
            float sum = 0.0f;
            for (l = 0; l < 8; ++l) {
                sum += sv[l];
            }
            for (q = kv; q < k; ++q) {
                sum += a[q] * bt[q];
            }
            out[t] = sum;
        }
        memcpy(c, out, sizeof out);
        return;
    }
    for (t = 0; t < nb; ++t) {
        const float *bt = b + t * ldb;
        ep_v8 sv = (ep_v8){0};
        float sum = 0.0f;
        for (q = 0; q < kv; q += 8) {
            sv += ld8(a + q) * ld8(bt + q);
        }
        for (l = 0; l < 8; ++l) {
            sum += sv[l];
        }
        for (q = kv; q < k; ++q) {
            sum += a[q] * bt[q];
        }
        c[t] = sum;
    }
}
#else
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

void ep_sgemm_nt(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *b, int64_t ldb,
                 float *c, int64_t ldc)
{
    /* rows of b per block: about 128 KiB of b stays in cache while every row of a passes */
    int64_t jb = k > 0 ? (32768 / k) / 4 * 4 : n;
    int64_t i, j, j0;
#ifdef EP_VEC
    if (m >= 2 * EP_MR && n >= EP_VL) { /* b^T packed into the blocked product's strips */
        ep_sgemm_rows g;
        g.b = b;
        g.taps = 1;
        g.cstride = 1;
        g.toff = NULL;
        sgemm_blocked(m, n, k, a, lda, 1, &g, ldb, c, ldc);
        return;
    }
#endif
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
}
