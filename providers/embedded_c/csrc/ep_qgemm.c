/* ep_qgemm.c: the 8-bit convolution and matrix product as byte dot products (see ep_qgemm.h). */
#include <string.h>

#include "ep_qgemm.h"
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

#else

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
