/* ep_qgemm.c: the 8-bit convolution and matrix product as byte dot products (see ep_qgemm.h). */
#include <string.h>

#include "ep_exp.h"
#include "ep_qgemm.h"
#include "ep_sgemm.h"
#include "ep_window.h"

#if defined(__GNUC__) && (defined(__AVX2__) || defined(__AVX512VNNI__) || defined(__AVXVNNI__)) && \
    !defined(EP_NO_VECTOR_EXT)
#define EP_QG_FAST 1
#endif

#ifdef EP_QG_FAST

/* bytes of k per block: an int32 dot product of EP_QG_KB (u8 x s8) products cannot overflow */
#define EP_QG_KB 4096
/* rows of the signed side (patches, columns of b) packed per block */
#define EP_QG_NB 4
/* output channels (rows of the unsigned side) whose int64 totals a convolution keeps per block */
#define EP_QG_MAX_M 1024

/* out[i][r] = sum_k u_i[k] * s_r[k], i < 2, r < 4: eight independent sums, so that the multiply-adds of
 * one step do not wait for each other's results. */
static void dot_2x4(const uint8_t *u0, const uint8_t *u1, const int8_t *s, int64_t ld, int64_t n,
                    int32_t out[2][EP_QG_NB])
{
    const uint8_t *restrict pu0 = u0;
    const uint8_t *restrict pu1 = u1;
    const int8_t *restrict s0 = s;
    const int8_t *restrict s1 = s + ld;
    const int8_t *restrict s2 = s + 2 * ld;
    const int8_t *restrict s3 = s + 3 * ld;
    int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, b0 = 0, b1 = 0, b2 = 0, b3 = 0;
    int64_t k;
    for (k = 0; k < n; ++k) {
        int32_t v = pu0[k], t = pu1[k];
        int32_t c0 = s0[k], c1 = s1[k], c2 = s2[k], c3 = s3[k];
        a0 += v * c0;
        a1 += v * c1;
        a2 += v * c2;
        a3 += v * c3;
        b0 += t * c0;
        b1 += t * c1;
        b2 += t * c2;
        b3 += t * c3;
    }
    out[0][0] = a0;
    out[0][1] = a1;
    out[0][2] = a2;
    out[0][3] = a3;
    out[1][0] = b0;
    out[1][1] = b1;
    out[1][2] = b2;
    out[1][3] = b3;
}

/* byte i of t from `off` on as the unsigned side: uint8 as it is, int8 with its top bit flipped */
static void load_unsigned(uint8_t *dst, const ep_tensor *t, int64_t off, int64_t n)
{
    int64_t k;
    const uint8_t *src = (const uint8_t *)t->data + off;
    if (t->dtype == EP_UINT8) {
        memcpy(dst, src, (size_t)n);
        return;
    }
    for (k = 0; k < n; ++k) {
        dst[k] = (uint8_t)(src[k] ^ 0x80u);
    }
}

/* a byte of t as the signed side: int8 as it is, uint8 with its top bit flipped */
static int8_t signed_byte(const ep_tensor *t, int64_t i)
{
    uint8_t v = ((const uint8_t *)t->data)[i];
    return (int8_t)(t->dtype == EP_INT8 ? v : (uint8_t)(v ^ 0x80u));
}

/* the zero point of the unsigned side (uint8: as it is; int8: + 128) and of the signed side (int8: as it
 * is; uint8: - 128) */
static int32_t zero_unsigned(const ep_tensor *t, int32_t z)
{
    return t->dtype == EP_UINT8 ? z : z + 128;
}

static int32_t zero_signed(const ep_tensor *t, int32_t z)
{
    return t->dtype == EP_INT8 ? z : z - 128;
}

int ep_qconv_dot(const ep_tensor *x, int32_t zx, const ep_tensor *w, ep_tensor *y, const ep_conv_params *p,
                 const ep_qout *q)
{
    int8_t patch[EP_QG_NB][EP_QG_KB];
    uint8_t wrow[2][EP_QG_KB];
    int64_t tot[EP_QG_NB][EP_QG_MAX_M];
    int64_t usum[EP_QG_MAX_M];
    int64_t ih, iw, oh, ow, nb, g, p0, k0, m, j;
    int64_t chans = w->dims[0];
    int64_t cg = w->dims[1];
    int64_t kh = p->kernel[0], kw = p->kernel[1];
    int64_t kdim = cg * kh * kw;
    int64_t mg = chans / p->group;
    int32_t zs = zero_signed(x, zx);
    ep_window_spatial(x, &ih, &iw);
    ep_window_spatial(y, &oh, &ow);
    if (mg > EP_QG_MAX_M || kdim == 0) {
        return 0;
    }
    for (nb = 0; nb < x->dims[0]; ++nb) {
        for (g = 0; g < p->group; ++g) {
            int64_t xbase = (nb * x->dims[1] + g * cg) * ih * iw;
            for (m = 0; m < mg; ++m) { /* sum of each weight row as the unsigned side */
                int64_t s = 0, k;
                const uint8_t *row = (const uint8_t *)w->data + (g * mg + m) * kdim;
                for (k = 0; k < kdim; ++k) {
                    s += w->dtype == EP_UINT8 ? row[k] : (uint8_t)(row[k] ^ 0x80u);
                }
                usum[m] = s;
            }
            for (p0 = 0; p0 < oh * ow; p0 += EP_QG_NB) {
                int64_t np = oh * ow - p0 < EP_QG_NB ? oh * ow - p0 : EP_QG_NB;
                int64_t ssum[EP_QG_NB] = {0, 0, 0, 0};
                for (j = 0; j < EP_QG_NB; ++j) {
                    for (m = 0; m < mg; ++m) {
                        tot[j][m] = 0;
                    }
                }
                for (k0 = 0; k0 < kdim; k0 += EP_QG_KB) {
                    int64_t kb = kdim - k0 < EP_QG_KB ? kdim - k0 : EP_QG_KB;
                    for (j = 0; j < EP_QG_NB; ++j) { /* patch j: the window of output p0 + j, padding zs */
                        int64_t pos = p0 + (j < np ? j : 0), oy = pos / ow, ox = pos % ow, k;
                        int64_t ci = k0 / (kh * kw), ki = k0 / kw % kh, kj = k0 % kw; /* tap k0, then on */
                        int64_t s = 0;
                        for (k = 0; k < kb; ++k) {
                            int64_t yy = oy * p->strides[0] - p->pads[0] + ki * p->dilations[0];
                            int64_t xx = ox * p->strides[1] - p->pads[1] + kj * p->dilations[1];
                            int8_t v = (int8_t)zs;
                            if (yy >= 0 && yy < ih && xx >= 0 && xx < iw) {
                                v = signed_byte(x, xbase + (ci * ih + yy) * iw + xx);
                            }
                            patch[j][k] = v;
                            s += v;
                            if (++kj == kw) {
                                kj = 0;
                                if (++ki == kh) {
                                    ki = 0;
                                    ++ci;
                                }
                            }
                        }
                        ssum[j] += s;
                    }
                    for (m = 0; m < mg; m += 2) { /* two weight rows at a time (the last one twice when odd) */
                        int32_t d[2][EP_QG_NB];
                        int64_t m1 = m + 1 < mg ? m + 1 : m;
                        const uint8_t *w0 = (const uint8_t *)w->data + (g * mg + m) * kdim + k0;
                        const uint8_t *w1 = (const uint8_t *)w->data + (g * mg + m1) * kdim + k0;
                        if (w->dtype != EP_UINT8) {
                            load_unsigned(wrow[0], w, (g * mg + m) * kdim + k0, kb);
                            load_unsigned(wrow[1], w, (g * mg + m1) * kdim + k0, kb);
                            w0 = wrow[0];
                            w1 = wrow[1];
                        }
                        dot_2x4(w0, w1, patch[0], EP_QG_KB, kb, d);
                        for (j = 0; j < EP_QG_NB; ++j) {
                            tot[j][m] += d[0][j];
                            if (m1 != m) {
                                tot[j][m1] += d[1][j];
                            }
                        }
                    }
                }
                for (m = 0; m < mg; ++m) {
                    int64_t c = g * mg + m;
                    int64_t zu = zero_unsigned(w, ep_qout_zero_point(q, c));
                    for (j = 0; j < np; ++j) {
                        int64_t acc = tot[j][m] - (int64_t)zs * usum[m] - zu * ssum[j] + kdim * zu * zs;
                        ep_qout_store(y, (nb * chans + c) * oh * ow + p0 + j, acc, c, q);
                    }
                }
            }
        }
    }
    return 1;
}

/* a matrix product packs this many columns of b (k-contiguous) per block of EP_QG_MKB rows of b, read
 * along b's rows (a 32-byte run of each row), and keeps the totals of EP_QG_MR rows of a */
#define EP_QG_MCOLS 32
#define EP_QG_MKB 1024
#define EP_QG_MR 128

int ep_qmatmul_dot(const ep_tensor *a, int32_t za, const ep_tensor *b, ep_tensor *y, const ep_qout *q)
{
    int8_t col[EP_QG_MCOLS][EP_QG_MKB];
    int64_t tot[EP_QG_MR][EP_QG_MCOLS];
    int64_t usum[EP_QG_MR];
    uint8_t row[2][EP_QG_MKB];
    int64_t kdim = b->dims[0];
    int64_t ncol = b->dims[1];
    int64_t rows = kdim ? ep_numel(a) / kdim : 0;
    int64_t r0, c0, k0, r, j, k;
    int32_t zu = zero_unsigned(a, za);
    const uint8_t *pa = (const uint8_t *)a->data;
    const uint8_t *pb = (const uint8_t *)b->data;
    uint8_t flip_a = a->dtype == EP_UINT8 ? 0u : 0x80u;
    uint8_t flip_b = b->dtype == EP_INT8 ? 0u : 0x80u;
    if (kdim == 0 || rows == 0) {
        return 0;
    }
    for (r0 = 0; r0 < rows; r0 += EP_QG_MR) {
        int64_t nr = rows - r0 < EP_QG_MR ? rows - r0 : EP_QG_MR;
        for (r = 0; r < nr; ++r) { /* sum of each row of a as the unsigned side */
            int64_t s = 0;
            const uint8_t *src = pa + (r0 + r) * kdim;
            for (k = 0; k < kdim; ++k) {
                s += (uint8_t)(src[k] ^ flip_a);
            }
            usum[r] = s;
        }
        for (c0 = 0; c0 < ncol; c0 += EP_QG_MCOLS) {
            int64_t nc = ncol - c0 < EP_QG_MCOLS ? ncol - c0 : EP_QG_MCOLS;
            int64_t ssum[EP_QG_MCOLS];
            for (j = 0; j < EP_QG_MCOLS; ++j) {
                ssum[j] = 0;
                for (r = 0; r < nr; ++r) {
                    tot[r][j] = 0;
                }
            }
            for (k0 = 0; k0 < kdim; k0 += EP_QG_MKB) {
                int64_t kb = kdim - k0 < EP_QG_MKB ? kdim - k0 : EP_QG_MKB;
                for (k = 0; k < kb; ++k) { /* columns c0.. of b, k-contiguous, as the signed side */
                    const uint8_t *src = pb + (k0 + k) * ncol + c0;
                    for (j = 0; j < nc; ++j) {
                        col[j][k] = (int8_t)(uint8_t)(src[j] ^ flip_b);
                    }
                }
                for (j = nc; j < EP_QG_MCOLS && j % EP_QG_NB; ++j) { /* the last group's missing columns */
                    memset(col[j], 0, (size_t)kb);
                }
                for (j = 0; j < nc; ++j) {
                    int64_t s = 0;
                    for (k = 0; k < kb; ++k) {
                        s += col[j][k];
                    }
                    ssum[j] += s;
                }
                for (r = 0; r < nr; r += 2) { /* two rows of a at a time (the last one twice when odd) */
                    const uint8_t *src0 = pa + (r0 + r) * kdim + k0;
                    const uint8_t *src1 = pa + (r0 + (r + 1 < nr ? r + 1 : r)) * kdim + k0;
                    if (flip_a) {
                        for (k = 0; k < kb; ++k) {
                            row[0][k] = (uint8_t)(src0[k] ^ flip_a);
                            row[1][k] = (uint8_t)(src1[k] ^ flip_a);
                        }
                        src0 = row[0];
                        src1 = row[1];
                    }
                    for (j = 0; j < nc; j += EP_QG_NB) {
                        int32_t d[2][EP_QG_NB];
                        int64_t t;
                        dot_2x4(src0, src1, col[j], EP_QG_MKB, kb, d);
                        for (t = 0; t < EP_QG_NB && j + t < nc; ++t) {
                            tot[r][j + t] += d[0][t];
                            if (r + 1 < nr) {
                                tot[r + 1][j + t] += d[1][t];
                            }
                        }
                    }
                }
            }
            for (j = 0; j < nc; ++j) {
                int64_t c = c0 + j;
                int64_t zs = zero_signed(b, ep_qout_zero_point(q, c));
                for (r = 0; r < nr; ++r) {
                    int64_t acc = tot[r][j] - zs * usum[r] - (int64_t)zu * ssum[j] + kdim * zu * zs;
                    ep_qout_store(y, (r0 + r) * ncol + c, acc, c, q);
                }
            }
        }
    }
    return 1;
}

#endif /* EP_QG_FAST */

/* ------------------------------------------------------------------ constant weights packed at generate time
 *
 * Portable C99 (no vector extensions): the same loops serve every compiler; GCC and Clang turn the inner
 * loop of qp_tile into VPDPBUSD (AVX-VNNI / AVX512-VNNI) or VPMADDUBSW pairs (AVX2). */

/* rows of the unsigned side per tile: 4 where 32 vector registers hold 16 accumulators (AVX-512), else 2 */
#if defined(__AVX512VL__) && !defined(EP_NO_VECTOR_EXT)
#define EP_QP_MR 4
#else
#define EP_QP_MR 2
#endif
/* bytes of k an int32 sum takes before it is folded into int64: 255 * 128 * 4096 < 2^31 */
#define EP_QP_KB 4096

/* GCC's tuning for AVX-512 targets keeps loops it vectorises to 256-bit vectors; a product whose rows of k
 * are long (a matrix product's: 64 bytes a step and more) runs its tiles in 512-bit ones, twice the bytes a
 * VPDPBUSD. (Short rows, most convolutions', are faster as they are: fewer bytes in each sum's remainder.) */
#if defined(__GNUC__) && !defined(__clang__) && defined(__AVX512F__) && !defined(EP_NO_VECTOR_EXT)
#define EP_QP_WIDE __attribute__((target("prefer-vector-width=512")))
#define EP_QP_INLINE __attribute__((always_inline)) inline
#else
#define EP_QP_WIDE
#define EP_QP_INLINE inline
#endif

/* out[i][r] = sum_{k < n} u[i][k] * s[r][k] (i < EP_QP_MR, r < EP_QP_NR), int32 blocks folded into int64 */
static EP_QP_INLINE void qp_tile_body(const uint8_t *const *u, const int8_t *const *s, int64_t n,
                                      int64_t out[EP_QP_MR][EP_QP_NR])
{
    int64_t k0, i, r;
    for (i = 0; i < EP_QP_MR; ++i) {
        for (r = 0; r < EP_QP_NR; ++r) {
            out[i][r] = 0;
        }
    }
    for (k0 = 0; k0 < n; k0 += EP_QP_KB) {
        int64_t k, kb = n - k0 < EP_QP_KB ? n - k0 : EP_QP_KB;
        const int8_t *restrict s0 = s[0] + k0;
        const int8_t *restrict s1 = s[1] + k0;
        const int8_t *restrict s2 = s[2] + k0;
        const int8_t *restrict s3 = s[3] + k0;
        const uint8_t *restrict u0 = u[0] + k0;
        const uint8_t *restrict u1 = u[1] + k0;
        int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, b0 = 0, b1 = 0, b2 = 0, b3 = 0;
#if EP_QP_MR == 4
        const uint8_t *restrict u2 = u[2] + k0;
        const uint8_t *restrict u3 = u[3] + k0;
        int32_t c0 = 0, c1 = 0, c2 = 0, c3 = 0, d0 = 0, d1 = 0, d2 = 0, d3 = 0;
#endif
        for (k = 0; k < kb; ++k) {
            int32_t w0 = s0[k], w1 = s1[k], w2 = s2[k], w3 = s3[k];
            int32_t v = u0[k], t = u1[k];
            a0 += v * w0;
            a1 += v * w1;
            a2 += v * w2;
            a3 += v * w3;
            b0 += t * w0;
            b1 += t * w1;
            b2 += t * w2;
            b3 += t * w3;
#if EP_QP_MR == 4
            v = u2[k];
            t = u3[k];
            c0 += v * w0;
            c1 += v * w1;
            c2 += v * w2;
            c3 += v * w3;
            d0 += t * w0;
            d1 += t * w1;
            d2 += t * w2;
            d3 += t * w3;
#endif
        }
        out[0][0] += a0, out[0][1] += a1, out[0][2] += a2, out[0][3] += a3;
        out[1][0] += b0, out[1][1] += b1, out[1][2] += b2, out[1][3] += b3;
#if EP_QP_MR == 4
        out[2][0] += c0, out[2][1] += c1, out[2][2] += c2, out[2][3] += c3;
        out[3][0] += d0, out[3][1] += d1, out[3][2] += d2, out[3][3] += d3;
#endif
    }
}

static void qp_tile(const uint8_t *const *u, const int8_t *const *s, int64_t n, int64_t out[EP_QP_MR][EP_QP_NR])
{
    qp_tile_body(u, s, n, out);
}

/* qp_tile in 512-bit vectors where the target has them (EP_QP_WIDE) */
static EP_QP_WIDE void qp_tile_wide(const uint8_t *const *u, const int8_t *const *s, int64_t n,
                                    int64_t out[EP_QP_MR][EP_QP_NR])
{
    qp_tile_body(u, s, n, out);
}

/* sum of n signed bytes */
static int64_t qp_ssum(const int8_t *s, int64_t n)
{
    int64_t k0, tot = 0;
    for (k0 = 0; k0 < n; k0 += EP_QP_KB) {
        int64_t k, kb = n - k0 < EP_QP_KB ? n - k0 : EP_QP_KB;
        int32_t acc = 0;
        for (k = 0; k < kb; ++k) {
            acc += s[k0 + k];
        }
        tot += acc;
    }
    return tot;
}

/* sum of n unsigned bytes */
static int64_t qp_usum(const uint8_t *u, int64_t n)
{
    int64_t k0, tot = 0;
    for (k0 = 0; k0 < n; k0 += EP_QP_KB) {
        int64_t k, kb = n - k0 < EP_QP_KB ? n - k0 : EP_QP_KB;
        int32_t acc = 0;
        for (k = 0; k < kb; ++k) {
            acc += u[k0 + k];
        }
        tot += acc;
    }
    return tot;
}

/* Up to this many bytes of k, each term of a product's corrected sum is below 128 * 255 * k in
 * magnitude and their total below 2^31: the sums are exact in int32 (none saturates). */
#define EP_QP_EXACT32_K 16384

static int32_t qp_sat32(int64_t v)
{
    return (int32_t)(v > INT32_MAX ? INT32_MAX : v < INT32_MIN ? INT32_MIN : v);
}

/* y[i] = the output of sum `acc` of channel c: an int32 sum stored in place, anything else by ep_qout_store */
static void qp_store(ep_tensor *y, int64_t i, int64_t acc, int64_t c, const ep_qout *q)
{
    if (q->mult == NULL && q->bias == NULL) {
        ((int32_t *)y->data)[i] = qp_sat32(acc);
        return;
    }
    ep_qout_store(y, i, acc, c, q);
}

/* v + b wrapping as int32 (int_binary.c's Add) */
static int32_t qf_wrap_add(int32_t v, int32_t b)
{
    int64_t s = (int64_t)v + b;
    return (int32_t)(s > INT32_MAX ? s - 4294967296LL : s < INT32_MIN ? s + 4294967296LL : s);
}

/* sums of a channel a convolution takes through its epilogue at a time (once a group's are all computed, in
 * runs long enough for the loops below to pay off) */
#define EP_QF_CHUNK 256

/* y[i] = ep_qf_epilogue's output of v[i] (n sums of channel c), in two loops that vectorise: the scaled
 * values, then the activation over them */
static void qf_run(float *y, const int32_t *v, int64_t n, int64_t c, const ep_qf_epilogue *f)
{
    int64_t i;
    int32_t b = f->bias != NULL ? f->bias[f->n_bias == 1 ? 0 : c] : 0;
    float s = f->scale[f->n_scale == 1 ? 0 : c], alpha = f->alpha;
    for (i = 0; i < n; ++i) {
        y[i] = (float)qf_wrap_add(v[i], b) * s;
    }
    if (f->act == EP_QF_ACT_SWISH) {
        for (i = 0; i < n; ++i) {
            y[i] = y[i] / (1.0f + ep_expf(-alpha * y[i]));
        }
    }
}

int ep_check_qf_epilogue(const ep_tensor *bias, const ep_tensor *scale, int64_t channels, int32_t act, float alpha,
                         ep_qf_epilogue *f)
{
    int64_t nb = 0, ns;
    int rc = bias != NULL ? ep_check_dtype(bias, EP_INT32) : EP_OK;
    if (rc == EP_OK) {
        rc = ep_check_dtype(scale, EP_FLOAT32);
    }
    if (rc != EP_OK) {
        return rc;
    }
    nb = bias != NULL ? ep_numel(bias) : 0;
    ns = ep_numel(scale);
    if ((bias != NULL && nb != 1 && nb != channels) || (ns != 1 && ns != channels)) {
        return EP_ERR_SHAPE;
    }
    if (act != EP_QF_ACT_NONE && act != EP_QF_ACT_SWISH) {
        return EP_ERR_ARG;
    }
    f->bias = bias != NULL ? (const int32_t *)bias->data : NULL;
    f->n_bias = nb;
    f->scale = (const float *)scale->data;
    f->n_scale = ns;
    f->act = act;
    f->alpha = alpha;
    return EP_OK;
}

int64_t ep_qmatmul_packed_rows(int64_t kdim, int a_int8)
{
    int64_t rows = a_int8 && kdim > 0 ? EP_QP_ABUF / kdim : EP_QP_MAX_ROWS;
    rows -= rows % EP_QP_MR;
    return rows > EP_QP_MAX_ROWS ? EP_QP_MAX_ROWS : rows;
}

static void qmatmul_packed(const ep_tensor *a, int32_t za, const int8_t *bt, const int32_t *bsum, int32_t b_shift,
                           ep_tensor *y, const ep_qout *q, const ep_qf_epilogue *f)
{
    uint8_t abuf[EP_QP_ABUF];
    int64_t usum[EP_QP_MAX_ROWS];
    int64_t kdim = a->dims[a->rank - 1];
    int64_t ncol = y->dims[y->rank - 1];
    int64_t rows = kdim ? ep_numel(a) / kdim : ep_numel(y) / (ncol ? ncol : 1);
    int64_t block = ep_qmatmul_packed_rows(kdim, a->dtype != EP_UINT8);
    int64_t r0, r, c, i, j, k;
    int64_t zu = a->dtype == EP_UINT8 ? za : za + 128;
    int exact32 = q->mult == NULL && q->bias == NULL && kdim <= EP_QP_EXACT32_K; /* MatMulInteger's int32 sums */
    int32_t fb[EP_QP_NR];  /* the epilogue's bias and scale of a group of columns */
    float fs[EP_QP_NR];
    if (block < EP_QP_MR) {
        return; /* ep_matmulinteger_packed refuses these shapes before */
    }
    for (r0 = 0; r0 < rows; r0 += block) { /* rows of a as the unsigned side: int8 flipped into abuf */
        int64_t nr = rows - r0 < block ? rows - r0 : block;
        const uint8_t *ua = (const uint8_t *)a->data + r0 * kdim;
        if (a->dtype != EP_UINT8) {
            for (k = 0; k < nr * kdim; ++k) {
                abuf[k] = (uint8_t)(ua[k] ^ 0x80u);
            }
            ua = abuf;
        }
        for (r = 0; r < nr; ++r) {
            usum[r] = qp_usum(ua + r * kdim, kdim);
        }
        for (c = 0; c < ncol; c += EP_QP_NR) { /* bt holds whole groups of EP_QP_NR rows (zero past ncol) */
            const int8_t *s[EP_QP_NR];
            int64_t zs[EP_QP_NR]; /* b's zero points as the signed side's */
            int32_t zs32[EP_QP_NR], corr32[EP_QP_NR];
            int64_t nc = ncol - c < EP_QP_NR ? ncol - c : EP_QP_NR;
            for (j = 0; j < EP_QP_NR; ++j) {
                s[j] = bt + (c + j) * kdim;
                zs[j] = c + j < ncol ? (int64_t)ep_qout_zero_point(q, c + j) - b_shift : 0;
                zs32[j] = (int32_t)zs[j];
                corr32[j] = exact32 && j < nc ? (int32_t)(kdim * zu * zs[j] - zu * bsum[c + j]) : 0;
                fb[j] = f != NULL && f->bias != NULL && j < nc ? f->bias[f->n_bias == 1 ? 0 : c + j] : 0;
                fs[j] = f != NULL && j < nc ? f->scale[f->n_scale == 1 ? 0 : c + j] : 0.0f;
            }
            for (r = 0; r < nr; r += EP_QP_MR) {
                const uint8_t *u[EP_QP_MR];
                int64_t out[EP_QP_MR][EP_QP_NR];
                for (i = 0; i < EP_QP_MR; ++i) { /* the last rows repeated past the block */
                    u[i] = ua + (r + i < nr ? r + i : nr - 1) * kdim;
                }
                qp_tile_wide(u, s, kdim, out);
                for (i = 0; i < EP_QP_MR && r + i < nr; ++i) {
                    int64_t at = (r0 + r + i) * ncol + c;
                    if (f != NULL) { /* int32 sums (exact, or saturated as MatMulInteger's) through the epilogue */
                        float *dst = (float *)y->data + at;
                        int32_t us = (int32_t)usum[r + i];
                        for (j = 0; j < nc; ++j) {
                            int32_t v = exact32 ? (int32_t)out[i][j] - zs32[j] * us + corr32[j]
                                                : qp_sat32(out[i][j] - zs[j] * usum[r + i] - zu * bsum[c + j] +
                                                           kdim * zu * zs[j]);
                            dst[j] = (float)qf_wrap_add(v, fb[j]) * fs[j];
                        }
                        for (j = 0; j < nc && f->act == EP_QF_ACT_SWISH; ++j) {
                            dst[j] = dst[j] / (1.0f + ep_expf(-f->alpha * dst[j]));
                        }
                        continue;
                    }
                    if (exact32) { /* every term fits int32: no saturation */
                        int32_t *dst = (int32_t *)y->data + at;
                        int32_t us = (int32_t)usum[r + i];
                        for (j = 0; j < nc; ++j) {
                            dst[j] = (int32_t)out[i][j] - zs32[j] * us + corr32[j];
                        }
                        continue;
                    }
                    for (j = 0; j < nc; ++j) {
                        int64_t acc = out[i][j] - zs[j] * usum[r + i] - zu * bsum[c + j] + kdim * zu * zs[j];
                        qp_store(y, at + j, acc, c + j, q);
                    }
                }
            }
        }
    }
}

void ep_qmatmul_packed_run(const ep_tensor *a, int32_t za, const int8_t *bt, const int32_t *bsum, int32_t b_shift,
                           ep_tensor *y, const ep_qout *q)
{
    qmatmul_packed(a, za, bt, bsum, b_shift, y, q, NULL);
}

void ep_qmatmul_packed_run_f(const ep_tensor *a, int32_t za, const int8_t *bt, const int32_t *bsum, int32_t b_shift,
                             ep_tensor *y, const ep_qout *q, const ep_qf_epilogue *f)
{
    qmatmul_packed(a, za, bt, bsum, b_shift, y, q, f);
}

int64_t ep_qconv_packed_kdim(int64_t kdim)
{
    return (kdim + EP_QP_KALIGN - 1) / EP_QP_KALIGN * EP_QP_KALIGN;
}

int64_t ep_qconv_packed_scratch(int64_t cg, int64_t hp, int64_t wp, int64_t kdim)
{
    return hp * wp * cg + EP_QP_PATCHES * ep_qconv_packed_kdim(kdim);
}

int64_t ep_qconv_float_scratch(int64_t mg, int64_t kdim, int64_t taps, int64_t npos)
{
#ifdef EP_QG_FAST
    if (kdim > 0 && (kdim <= EP_QP_FLOAT_K || (taps == 1 && kdim <= EP_QP_FLOAT_K1 && npos >= EP_QP_FLOAT_NPOS))) {
        return (mg * kdim + kdim * npos + mg * npos) * (int64_t)sizeof(float);
    }
#endif
    (void)mg, (void)kdim, (void)taps, (void)npos;
    return 0;
}

/* out[ox] = src[ix] - zx (src of int8 where signed_x, else uint8) for ix = ox * stride + off, 0 where ix falls
 * outside [0, iw): one row of a tap of the patches, the columns inside in a loop that vectorises */
static void qf_patch_row(float *out, const uint8_t *src, int64_t ow, int64_t off, int64_t stride, int64_t iw,
                         int signed_x, int32_t zx)
{
    /* the first ox whose ix is >= 0, and the first whose ix is >= iw */
    int64_t lo = off >= 0 ? 0 : (-off + stride - 1) / stride;
    int64_t hi = iw - off <= 0 ? 0 : (iw - off + stride - 1) / stride;
    int64_t ox;
    lo = lo < ow ? lo : ow;
    hi = hi < ow ? hi : ow;
    hi = hi > lo ? hi : lo;
    for (ox = 0; ox < lo; ++ox) {
        out[ox] = 0.0f;
    }
    if (signed_x) {
        const int8_t *s8 = (const int8_t *)src;
        for (ox = lo; ox < hi; ++ox) {
            out[ox] = (float)((int32_t)s8[ox * stride + off] - zx);
        }
    } else {
        for (ox = lo; ox < hi; ++ox) {
            out[ox] = (float)((int32_t)src[ox * stride + off] - zx);
        }
    }
    for (ox = hi; ox < ow; ++ox) {
        out[ox] = 0.0f;
    }
}

/* qconv_packed as the float32 product of ep_qconv_float_scratch (which says it applies): per image and group,
 * a = w - zw (mg x kdim, taps in (ki, kj, ci) order as packed), b = the patches less zx (kdim x npos, 0 where
 * they read padding), c = a b (mg x npos), exact integers stored as the int32 sums are, or through f. */
static void qconv_float(const ep_tensor *x, int32_t zx, const uint8_t *w, int32_t w_shift, int64_t chans,
                        ep_tensor *y, const ep_conv_params *p, const ep_qout *q, uint8_t *scratch,
                        const ep_qf_epilogue *f)
{
    int64_t ih, iw, oh, ow, nb, g, m, k, ci, ki, kj, oy, ox;
    int64_t cg = x->dims[1] / p->group, kh = p->kernel[0], kw = p->kernel[1];
    int64_t kdim = cg * kh * kw, kp = ep_qconv_packed_kdim(kdim), mg = chans / p->group, npos;
    float *a = (float *)(void *)scratch, *b, *c;
    int signed_x = x->dtype == EP_INT8;
    ep_window_spatial(x, &ih, &iw);
    ep_window_spatial(y, &oh, &ow);
    npos = oh * ow;
    b = a + mg * kdim;
    c = b + kdim * npos;
    for (nb = 0; nb < x->dims[0]; ++nb) {
        for (g = 0; g < p->group; ++g) {
            const uint8_t *xg = (const uint8_t *)x->data + (nb * x->dims[1] + g * cg) * ih * iw;
            for (m = 0; m < mg; ++m) {
                const uint8_t *row = w + (g * mg + m) * kp;
                int32_t zu = ep_qout_zero_point(q, g * mg + m) + w_shift;
                for (k = 0; k < kdim; ++k) {
                    a[m * kdim + k] = (float)((int32_t)row[k] - zu);
                }
            }
            for (ki = 0; ki < kh; ++ki) {
                for (kj = 0; kj < kw; ++kj) {
                    for (ci = 0; ci < cg; ++ci) {
                        float *dst = b + ((ki * kw + kj) * cg + ci) * npos;
                        const uint8_t *plane = xg + ci * ih * iw;
                        for (oy = 0; oy < oh; ++oy) {
                            int64_t iy = oy * p->strides[0] - p->pads[0] + ki * p->dilations[0];
                            float *out = dst + oy * ow;
                            const uint8_t *src = plane + iy * iw;
                            if (iy < 0 || iy >= ih) {
                                for (ox = 0; ox < ow; ++ox) {
                                    out[ox] = 0.0f;
                                }
                                continue;
                            }
                            qf_patch_row(out, src, ow, kj * p->dilations[1] - p->pads[1], p->strides[1], iw,
                                         signed_x, zx);
                        }
                    }
                }
            }
            ep_sgemm_nn(mg, npos, kdim, a, kdim, 1, b, npos, c, npos);
            for (m = 0; m < mg; ++m) {
                int64_t ch = g * mg + m, at = (nb * chans + ch) * npos, j0;
                const float *sums = c + m * npos;
                if (f == NULL) {
                    int32_t *dst = (int32_t *)y->data + at;
                    for (k = 0; k < npos; ++k) {
                        dst[k] = (int32_t)sums[k];
                    }
                    continue;
                }
                for (j0 = 0; j0 < npos; j0 += EP_QF_CHUNK) {
                    int32_t v[EP_QF_CHUNK];
                    int64_t n = npos - j0 < EP_QF_CHUNK ? npos - j0 : EP_QF_CHUNK;
                    for (k = 0; k < n; ++k) {
                        v[k] = (int32_t)sums[j0 + k];
                    }
                    qf_run((float *)y->data + at + j0, v, n, ch, f);
                }
            }
        }
    }
}

static void qconv_packed(const ep_tensor *x, int32_t zx, const uint8_t *w, const int32_t *wsum, int32_t w_shift,
                         int64_t chans, ep_tensor *y, const ep_conv_params *p, const ep_qout *q, uint8_t *scratch,
                         const ep_qf_epilogue *f)
{
    int64_t ih, iw, oh, ow, nb, g, p0, m, i, j, ci, r, col;
    int64_t cg = x->dims[1] / p->group;
    int64_t kh = p->kernel[0], kw = p->kernel[1];
    int64_t kdim = cg * kh * kw, kp = ep_qconv_packed_kdim(kdim), mg = chans / p->group;
    int64_t hp, wp, npos;
    int32_t zs = x->dtype == EP_INT8 ? zx : zx - 128;
    uint8_t flip = x->dtype == EP_UINT8 ? 0x80u : 0u;
    /* a 1x1 kernel's patch is one run of the plane, read in place when no padding of k is needed */
    int direct = kh == 1 && kw == 1 && kp == kdim;
    int sums32 = q->mult == NULL && q->bias == NULL; /* int32 sums stored as they are (ConvInteger) */
    int8_t *plane = (int8_t *)scratch;
    int8_t *patches;
    ep_window_spatial(x, &ih, &iw);
    ep_window_spatial(y, &oh, &ow);
    if (sums32 && ep_qconv_float_scratch(mg, kdim, kh * kw, oh * ow) > 0) {
        qconv_float(x, zx, w, w_shift, chans, y, p, q, scratch, f);
        return;
    }
    hp = ih + p->pads[0] + p->pads[2];
    wp = iw + p->pads[1] + p->pads[3];
    patches = plane + hp * wp * cg;
    npos = oh * ow;
    for (j = 0; j < EP_QP_PATCHES && kp > kdim; ++j) { /* k past kdim: zero, for the whole run */
        memset(patches + j * kp + kdim, 0, (size_t)(kp - kdim));
    }
    for (nb = 0; nb < x->dims[0]; ++nb) {
        for (g = 0; g < p->group; ++g) {
            /* the group's input channels last, as the signed side, padded with the zero point */
            const uint8_t *src = (const uint8_t *)x->data + (nb * x->dims[1] + g * cg) * ih * iw;
            memset(plane, (int)(uint8_t)(int8_t)zs, (size_t)(hp * wp * cg));
            for (ci = 0; ci < cg; ++ci) {
                for (r = 0; r < ih; ++r) {
                    int8_t *dst = plane + ((r + p->pads[0]) * wp + p->pads[1]) * cg + ci;
                    const uint8_t *row = src + (ci * ih + r) * iw;
                    for (col = 0; col < iw; ++col) {
                        dst[col * cg] = (int8_t)(uint8_t)(row[col] ^ flip);
                    }
                }
            }
            for (p0 = 0; p0 < npos; p0 += EP_QP_PATCHES) {
                int64_t np = npos - p0 < EP_QP_PATCHES ? npos - p0 : EP_QP_PATCHES;
                const int8_t *patch[EP_QP_PATCHES];
                int64_t ssum[EP_QP_PATCHES];
                int32_t ss32[EP_QP_PATCHES];
                for (j = 0; j < np; ++j) { /* patch j: taps in (ki, kj, ci) order, as the weights are packed */
                    int64_t oy = (p0 + j) / ow, ox = (p0 + j) % ow, ki, kj;
                    const int8_t *at = plane + (oy * p->strides[0] * wp + ox * p->strides[1]) * cg;
                    if (direct) {
                        patch[j] = at;
                    } else {
                        int8_t *dst = patches + j * kp;
                        for (ki = 0; ki < kh; ++ki) {
                            const int8_t *rowp = at + ki * p->dilations[0] * wp * cg;
                            if (p->dilations[1] == 1) {
                                memcpy(dst + ki * kw * cg, rowp, (size_t)(kw * cg));
                            } else {
                                for (kj = 0; kj < kw; ++kj) {
                                    memcpy(dst + (ki * kw + kj) * cg, rowp + kj * p->dilations[1] * cg, (size_t)cg);
                                }
                            }
                        }
                        patch[j] = dst;
                    }
                    ssum[j] = qp_ssum(patch[j], kdim);
                    ss32[j] = (int32_t)ssum[j]; /* |ssum| <= 128 kp: used only where kp <= EP_QP_EXACT32_K */
                }
                for (m = 0; m < mg; m += EP_QP_MR) {
                    const uint8_t *u[EP_QP_MR];
                    int64_t zu[EP_QP_MR]; /* w's zero points as the unsigned side's */
                    for (i = 0; i < EP_QP_MR; ++i) { /* the last channel repeated past the group */
                        int64_t c = g * mg + (m + i < mg ? m + i : mg - 1);
                        u[i] = w + c * kp;
                        zu[i] = (int64_t)ep_qout_zero_point(q, c) + w_shift;
                    }
                    for (j = 0; j < np; j += EP_QP_NR) {
                        const int8_t *s[EP_QP_NR];
                        int64_t out[EP_QP_MR][EP_QP_NR], t;
                        for (t = 0; t < EP_QP_NR; ++t) {
                            s[t] = patch[j + t < np ? j + t : np - 1];
                        }
                        qp_tile(u, s, kp, out);
                        for (i = 0; i < EP_QP_MR && m + i < mg; ++i) {
                            int64_t c = g * mg + m + i, at = (nb * chans + c) * npos + p0 + j;
                            int64_t base = kdim * zu[i] * zs - (int64_t)zs * wsum[c];
                            int64_t nt = np - j < EP_QP_NR ? np - j : EP_QP_NR;
                            if (sums32 && kp <= EP_QP_EXACT32_K) { /* every term fits int32: no saturation */
                                int32_t *dst = (int32_t *)y->data + at;
                                int32_t b32 = (int32_t)base, z32 = (int32_t)zu[i];
                                for (t = 0; t < nt; ++t) {
                                    dst[t] = (int32_t)out[i][t] + b32 - z32 * ss32[j + t];
                                }
                                continue;
                            }
                            if (sums32) {
                                int32_t *dst = (int32_t *)y->data + at;
                                for (t = 0; t < nt; ++t) {
                                    dst[t] = qp_sat32(out[i][t] + base - zu[i] * ssum[j + t]);
                                }
                                continue;
                            }
                            for (t = 0; t < nt; ++t) {
                                ep_qout_store(y, at + t, out[i][t] + base - zu[i] * ssum[j + t], c, q);
                            }
                        }
                    }
                }
            }
            for (m = 0; f != NULL && sums32 && m < mg; ++m) { /* the group's int32 sums through the epilogue */
                int64_t j0;
                for (j0 = 0; j0 < npos; j0 += EP_QF_CHUNK) {
                    int32_t sums[EP_QF_CHUNK];
                    int64_t n = npos - j0 < EP_QF_CHUNK ? npos - j0 : EP_QF_CHUNK;
                    float *dst = (float *)y->data + (nb * chans + g * mg + m) * npos + j0;
                    memcpy(sums, dst, (size_t)n * sizeof sums[0]);
                    qf_run(dst, sums, n, g * mg + m, f);
                }
            }
        }
    }
}

void ep_qconv_packed_run(const ep_tensor *x, int32_t zx, const uint8_t *w, const int32_t *wsum, int32_t w_shift,
                         int64_t chans, ep_tensor *y, const ep_conv_params *p, const ep_qout *q, uint8_t *scratch)
{
    qconv_packed(x, zx, w, wsum, w_shift, chans, y, p, q, scratch, NULL);
}

void ep_qconv_packed_run_f(const ep_tensor *x, int32_t zx, const uint8_t *w, const int32_t *wsum, int32_t w_shift,
                           int64_t chans, ep_tensor *y, const ep_conv_params *p, const ep_qout *q, uint8_t *scratch,
                           const ep_qf_epilogue *f)
{
    qconv_packed(x, zx, w, wsum, w_shift, chans, y, p, q, scratch, f);
}

#ifndef EP_QG_FAST

int ep_qconv_dot(const ep_tensor *x, int32_t zx, const ep_tensor *w, ep_tensor *y, const ep_conv_params *p,
                 const ep_qout *q)
{
    (void)x, (void)zx, (void)w, (void)y, (void)p, (void)q;
    return 0;
}

int ep_qmatmul_dot(const ep_tensor *a, int32_t za, const ep_tensor *b, ep_tensor *y, const ep_qout *q)
{
    (void)a, (void)za, (void)b, (void)y, (void)q;
    return 0;
}

#endif
