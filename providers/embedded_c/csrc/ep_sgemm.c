/* ep_sgemm.c: blocked float32 matrix products (see ep_sgemm.h). */
#include <string.h>

#include "ep_sgemm.h"

#define EP_NR 16   /* columns of c per register block */
#define EP_KC 256  /* depth of one cache block of b */

/* c[0..MR) x [0..EP_NR) (+)= a block * b strip over kc steps; `acc_in` adds to what c holds. */
#define EP_KERNEL_NN(MR)                                                                              \
    static void kernel_nn_##MR(int64_t kc, const float *a, int64_t sam, int64_t sak, const float *b,  \
                               int64_t ldb, float *c, int64_t ldc, int acc_in)                       \
    {                                                                                                 \
        float acc[MR][EP_NR];                                                                         \
        int64_t r, q, jj;                                                                             \
        for (r = 0; r < MR; ++r) {                                                                    \
            for (jj = 0; jj < EP_NR; ++jj) {                                                          \
                acc[r][jj] = acc_in ? c[r * ldc + jj] : 0.0f;                                         \
            }                                                                                         \
        }                                                                                             \
        for (q = 0; q < kc; ++q) {                                                                    \
            const float *bq = b + q * ldb;                                                            \
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

#if defined(__GNUC__) && defined(__AVX__) && !defined(EP_NO_VECTOR_EXT)
/* GCC / Clang vector extensions: eight floats per value, loads and stores through memcpy (any
 * alignment). Other compilers take the plain C99 loops below, which compute the same thing. */
typedef float ep_v8 __attribute__((vector_size(32)));
#if !defined(__clang__)
/* the helpers below are static and inlined: no vector crosses an ABI boundary */
#pragma GCC diagnostic ignored "-Wpsabi"
#endif
#define EP_VEC 1

static ep_v8 ld8(const float *p)
{
    ep_v8 v;
    memcpy(&v, p, sizeof v);
    return v;
}

static void st8(float *p, ep_v8 v)
{
    memcpy(p, &v, sizeof v);
}

static void kernel_nn_4(int64_t kc, const float *a, int64_t sam, int64_t sak, const float *b, int64_t ldb,
                        float *c, int64_t ldc, int acc_in)
{
    ep_v8 c00, c01, c10, c11, c20, c21, c30, c31;
    const float *a0 = a, *a1 = a + sam, *a2 = a + 2 * sam, *a3 = a + 3 * sam;
    int64_t q;
    if (acc_in) {
        c00 = ld8(c); c01 = ld8(c + 8);
        c10 = ld8(c + ldc); c11 = ld8(c + ldc + 8);
        c20 = ld8(c + 2 * ldc); c21 = ld8(c + 2 * ldc + 8);
        c30 = ld8(c + 3 * ldc); c31 = ld8(c + 3 * ldc + 8);
    } else {
        c00 = c01 = c10 = c11 = c20 = c21 = c30 = c31 = (ep_v8){0};
    }
    for (q = 0; q < kc; ++q) {
        const float *bq = b + q * ldb;
        ep_v8 b0 = ld8(bq), b1 = ld8(bq + 8);
        float x0 = a0[q * sak], x1 = a1[q * sak], x2 = a2[q * sak], x3 = a3[q * sak];
        c00 += b0 * x0; c01 += b1 * x0;
        c10 += b0 * x1; c11 += b1 * x1;
        c20 += b0 * x2; c21 += b1 * x2;
        c30 += b0 * x3; c31 += b1 * x3;
    }
    st8(c, c00); st8(c + 8, c01);
    st8(c + ldc, c10); st8(c + ldc + 8, c11);
    st8(c + 2 * ldc, c20); st8(c + 2 * ldc + 8, c21);
    st8(c + 3 * ldc, c30); st8(c + 3 * ldc + 8, c31);
}

EP_KERNEL_NN(1)

static void kernel_nn_rows(int64_t mr, int64_t kc, const float *a, int64_t sam, int64_t sak, const float *b,
                           int64_t ldb, float *c, int64_t ldc, int acc_in)
{
    int64_t r;
    if (mr == 4) {
        kernel_nn_4(kc, a, sam, sak, b, ldb, c, ldc, acc_in);
        return;
    }
    for (r = 0; r < mr; ++r) {
        kernel_nn_1(kc, a + r * sam, sam, sak, b, ldb, c + r * ldc, ldc, acc_in);
    }
}
#else
EP_KERNEL_NN(1)
EP_KERNEL_NN(2)
EP_KERNEL_NN(3)
EP_KERNEL_NN(4)

static void kernel_nn_rows(int64_t mr, int64_t kc, const float *a, int64_t sam, int64_t sak, const float *b,
                           int64_t ldb, float *c, int64_t ldc, int acc_in)
{
    if (mr == 4) {
        kernel_nn_4(kc, a, sam, sak, b, ldb, c, ldc, acc_in);
    } else if (mr == 3) {
        kernel_nn_3(kc, a, sam, sak, b, ldb, c, ldc, acc_in);
    } else if (mr == 2) {
        kernel_nn_2(kc, a, sam, sak, b, ldb, c, ldc, acc_in);
    } else {
        kernel_nn_1(kc, a, sam, sak, b, ldb, c, ldc, acc_in);
    }
}
#endif

/* the ragged right edge: mr <= 4 rows, nr < EP_NR columns */
static void kernel_nn_edge(int64_t mr, int64_t nr, int64_t kc, const float *a, int64_t sam, int64_t sak,
                           const float *b, int64_t ldb, float *c, int64_t ldc, int acc_in)
{
    float acc[4][EP_NR];
    int64_t r, q, jj;
    for (r = 0; r < mr; ++r) {
        for (jj = 0; jj < nr; ++jj) {
            acc[r][jj] = acc_in ? c[r * ldc + jj] : 0.0f;
        }
    }
    for (q = 0; q < kc; ++q) {
        const float *bq = b + q * ldb;
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

void ep_sgemm_nn(int64_t m, int64_t n, int64_t k, const float *a, int64_t sam, int64_t sak,
                 const float *b, int64_t ldb, float *c, int64_t ldc)
{
    int64_t p0, j, i;
    if (k == 0) {
        for (i = 0; i < m; ++i) {
            memset(c + i * ldc, 0, (size_t)n * sizeof(float));
        }
        return;
    }
    for (p0 = 0; p0 < k; p0 += EP_KC) {
        int64_t kc = k - p0 < EP_KC ? k - p0 : EP_KC;
        int acc_in = p0 > 0;
        for (j = 0; j < n; j += EP_NR) {
            int64_t nr = n - j < EP_NR ? n - j : EP_NR;
            const float *bs = b + p0 * ldb + j;
            for (i = 0; i < m; i += 4) {
                int64_t mr = m - i < 4 ? m - i : 4;
                const float *as = a + i * sam + p0 * sak;
                float *cs = c + i * ldc + j;
                if (nr < EP_NR) {
                    kernel_nn_edge(mr, nr, kc, as, sam, sak, bs, ldb, cs, ldc, acc_in);
                } else {
                    kernel_nn_rows(mr, kc, as, sam, sak, bs, ldb, cs, ldc, acc_in);
                }
            }
        }
    }
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
