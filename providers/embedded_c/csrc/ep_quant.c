/* ep_quant.c: 8-bit loads and stores and fixed-point requantization (see ep_quant.h). */
#include "ep_quant.h"
#include "ep_qgemm.h"

int ep_check_q8(const ep_tensor *t)
{
    if (t != NULL && t->dtype == EP_INT8) {
        return ep_check_dtype(t, EP_INT8);
    }
    return ep_check_dtype(t, EP_UINT8);
}

int ep_requant_ok(int64_t mult, int64_t shift)
{
    return (mult == 0 || (mult >= ((int64_t)1 << 30) && mult < ((int64_t)1 << 31))) &&
           shift >= EP_QUANT_MIN_SHIFT && shift <= EP_QUANT_MAX_SHIFT;
}

int ep_zero_point_ok(const ep_tensor *t, int64_t zp)
{
    return t->dtype == EP_INT8 ? (zp >= -128 && zp <= 127) : (zp >= 0 && zp <= 255);
}

int ep_quant_axis(const ep_tensor *t, const ep_tensor *y, int32_t axis, const float *scale,
                  const int64_t *zero_point, int64_t n, int64_t *inner, int64_t *channels)
{
    int32_t d;
    *inner = 1;
    *channels = 1;
    if (!ep_same_shape(t, y)) {
        return EP_ERR_SHAPE;
    }
    if (scale == NULL || zero_point == NULL || n < 1 || (n > 1 && (axis < 0 || axis >= t->rank))) {
        return EP_ERR_ARG;
    }
    if (n > 1) {
        *channels = t->dims[axis];
        for (d = axis + 1; d < t->rank; ++d) {
            *inner *= t->dims[d];
        }
        if (n != *channels) {
            return EP_ERR_ARG;
        }
    }
    return EP_OK;
}

int32_t ep_q_load(const ep_tensor *t, int64_t i)
{
    switch (t->dtype) {
    case EP_UINT8:
        return ((const uint8_t *)t->data)[i];
    case EP_INT8:
        return ((const int8_t *)t->data)[i];
    default:
        return ((const int32_t *)t->data)[i];
    }
}

void ep_q_store(ep_tensor *t, int64_t i, int64_t v)
{
    if (t->dtype == EP_INT8) {
        ((int8_t *)t->data)[i] = (int8_t)(v < -128 ? -128 : (v > 127 ? 127 : v));
    } else {
        ((uint8_t *)t->data)[i] = (uint8_t)(v < 0 ? 0 : (v > 255 ? 255 : v));
    }
}

static int32_t saturate32(int64_t v)
{
    return (int32_t)(v < INT32_MIN ? INT32_MIN : (v > INT32_MAX ? INT32_MAX : v));
}

/* (a * b * 2) / 2^32 rounded to nearest, as gemmlowp's SaturatingRoundingDoublingHighMul. */
static int32_t doubling_high_mul(int32_t a, int32_t b)
{
    int64_t ab = (int64_t)a * (int64_t)b;
    int64_t nudge = ab >= 0 ? ((int64_t)1 << 30) : 1 - ((int64_t)1 << 30);
    if (a == INT32_MIN && b == INT32_MIN) {
        return INT32_MAX;
    }
    return (int32_t)((ab + nudge) / ((int64_t)1 << 31)); /* truncates toward zero, as gemmlowp */
}

/* x / 2^e rounded to nearest, ties away from zero (gemmlowp's RoundingDivideByPOT). */
static int32_t divide_by_pot(int32_t x, int32_t e)
{
    int64_t mask, rem, threshold, floor_q;
    if (e == 0) {
        return x;
    }
    mask = ((int64_t)1 << e) - 1;
    rem = (int64_t)x & mask; /* x mod 2^e, in [0, 2^e) */
    floor_q = ((int64_t)x - rem) / ((int64_t)1 << e);
    threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (int32_t)(floor_q + (rem > threshold ? 1 : 0));
}

int32_t ep_requantize(int64_t acc, int32_t mult, int32_t shift)
{
    int32_t left = shift > 0 ? shift : 0;
    int32_t right = shift > 0 ? 0 : -shift;
    int32_t x = saturate32(acc);
    x = saturate32((int64_t)x * ((int64_t)1 << left));
    if (right > 31) {
        right = 31;
    }
    return divide_by_pot(doubling_high_mul(x, mult), right);
}

int ep_qconv_check(const ep_tensor *x, const ep_tensor *w, const ep_tensor *y, const ep_conv_params *p)
{
    int rc;
    int64_t c, m;
    if (p == NULL) {
        return EP_ERR_ARG;
    }
    rc = ep_window_check(x, y, p->kernel, p->strides, p->pads, p->dilations, 0);
    if (rc != EP_OK) {
        return rc;
    }
    c = x->dims[1];
    m = w->dims[0];
    if (p->group < 1 || p->group > c) {
        return EP_ERR_ARG;
    }
    if (w->rank != x->rank || c != w->dims[1] * p->group || m % p->group != 0 || y->dims[1] != m ||
        w->dims[w->rank - 1] != p->kernel[1] || (w->rank == 4 && w->dims[2] != p->kernel[0])) {
        return EP_ERR_SHAPE;
    }
    return EP_OK;
}

/* Outputs accumulated together (one stack tile), and products of 8-bit values (|v| <= 255 * 255 after
 * the zero points) an int32 sum holds before it is folded into int64. */
#define EP_QTILE 64
#define EP_QBLOCK 32768

int ep_qout_requant(ep_qout *q, const ep_tensor *x, int64_t x_zp, const ep_tensor *w, const int64_t *w_zp,
                    int64_t n_w, const ep_tensor *y, int64_t y_zp, const int64_t *mult, const int64_t *shift,
                    int64_t n_q, const ep_tensor *bias, int64_t channels)
{
    int64_t k;
    if (!ep_qparams_ok(w_zp, n_w, channels) || !ep_qparams_ok(mult, n_q, channels) || shift == NULL ||
        !ep_zero_point_ok(x, x_zp) || !ep_zero_point_ok(y, y_zp)) {
        return EP_ERR_ARG;
    }
    for (k = 0; k < n_w; ++k) {
        if (!ep_zero_point_ok(w, w_zp[k])) {
            return EP_ERR_ARG;
        }
    }
    for (k = 0; k < n_q; ++k) {
        if (!ep_requant_ok(mult[k], shift[k])) {
            return EP_ERR_ARG;
        }
    }
    q->zp = w_zp;
    q->zp_t = NULL;
    q->n_zp = n_w;
    q->mult = mult;
    q->shift = shift;
    q->n_q = n_q;
    q->y_zp = y_zp;
    q->bias = bias;
    return EP_OK;
}

int32_t ep_qout_zero_point(const ep_qout *q, int64_t c)
{
    if (q->zp_t != NULL) {
        return ep_zero_point_at(q->zp_t, q->n_zp, c);
    }
    return q->zp != NULL ? (int32_t)q->zp[q->n_zp > 1 ? c : 0] : 0;
}

void ep_qout_store(ep_tensor *y, int64_t i, int64_t acc, int64_t c, const ep_qout *q)
{
    int64_t cq;
    if (q->bias != NULL) {
        acc += ep_q_load(q->bias, c);
    }
    if (q->mult == NULL) {
        ((int32_t *)y->data)[i] = saturate32(acc);
        return;
    }
    cq = q->n_q > 1 ? c : 0;
    ep_q_store(y, i, (int64_t)ep_requantize(acc, (int32_t)q->mult[cq], (int32_t)q->shift[cq]) + q->y_zp);
}

/* acc[j] += s * (v[j * step] - z) for j < n, v of C type T from `from` on; the contiguous case is
 * its own loop so that compilers vectorise it. */
#define EP_Q8_AXPY(T, from)                                  \
    do {                                                     \
        const T *v = (const T *)(from);                      \
        if (step == 1) {                                     \
            for (j = 0; j < n; ++j) {                        \
                acc[j] += s * ((int32_t)v[j] - z);           \
            }                                                \
        } else {                                             \
            for (j = 0; j < n; ++j) {                        \
                acc[j] += s * ((int32_t)v[j * step] - z);    \
            }                                                \
        }                                                    \
    } while (0)

/* EP_Q8_AXPY over the uint8 or int8 elements of t from `off` on. */
static void q8_axpy(int32_t *acc, int32_t s, const ep_tensor *t, int64_t off, int64_t step, int64_t n, int32_t z)
{
    int64_t j;
    if (t->dtype == EP_UINT8) {
        EP_Q8_AXPY(uint8_t, (const uint8_t *)t->data + off);
    } else {
        EP_Q8_AXPY(int8_t, (const int8_t *)t->data + off);
    }
}

/* The sums of a run of up to EP_QTILE outputs: int32 partial sums folded into int64 totals every
 * EP_QBLOCK products (`taps`), so that no int32 sum can overflow. */
typedef struct q8_tile {
    int32_t acc[EP_QTILE];
    int64_t tot[EP_QTILE];
    int64_t width, taps;
} q8_tile;

static void q8_fold(q8_tile *t)
{
    int64_t j;
    for (j = 0; j < t->width; ++j) {
        t->tot[j] += t->acc[j];
        t->acc[j] = 0;
    }
    t->taps = 0;
}

static void q8_tile_start(q8_tile *t, int64_t width)
{
    int64_t j;
    t->width = width;
    for (j = 0; j < width; ++j) {
        t->acc[j] = 0;
        t->tot[j] = 0;
    }
    t->taps = 0;
}

/* Outputs at..at+n of the tile each take one more product: s * (v - z) (see q8_axpy). */
static void q8_tile_add(q8_tile *t, int64_t at, int32_t s, const ep_tensor *v, int64_t off, int64_t step, int64_t n,
                        int32_t z)
{
    if (t->taps == EP_QBLOCK) {
        q8_fold(t);
    }
    q8_axpy(t->acc + at, s, v, off, step, n, z);
    ++t->taps;
}

static int64_t ceil_div(int64_t a, int64_t b)
{
    return a >= 0 ? (a + b - 1) / b : -((-a) / b);
}

static int64_t floor_div(int64_t a, int64_t b)
{
    return a >= 0 ? a / b : -((-a + b - 1) / b);
}

void ep_qconv_run(const ep_tensor *x, int32_t zx, const ep_tensor *w, ep_tensor *y, const ep_conv_params *p,
                  const ep_qout *q)
{
    q8_tile tile;
    int64_t ih, iw, oh, ow, nb, m, oy, ox0, ci, ki, kj, j;
    int64_t chans = w->dims[0];
    int64_t cg = w->dims[1];
    int64_t kh = p->kernel[0], kw = p->kernel[1];
    if (ep_qconv_dot(x, zx, w, y, p, q)) { /* byte dot products where the compiler has them (ep_qgemm.h) */
        return;
    }
    ep_window_spatial(x, &ih, &iw);
    ep_window_spatial(y, &oh, &ow);
    for (nb = 0; nb < x->dims[0]; ++nb) {
        for (m = 0; m < chans; ++m) {
            int32_t zw = ep_qout_zero_point(q, m);
            int64_t g = m / (chans / p->group);
            int64_t base = (nb * chans + m) * oh * ow;
            for (oy = 0; oy < oh; ++oy) {
                for (ox0 = 0; ox0 < ow; ox0 += EP_QTILE) {
                    int64_t width = ow - ox0 < EP_QTILE ? ow - ox0 : EP_QTILE;
                    q8_tile_start(&tile, width);
                    for (ci = 0; ci < cg; ++ci) {
                        int64_t xbase = (nb * x->dims[1] + g * cg + ci) * ih * iw;
                        int64_t wbase = (m * cg + ci) * kh * kw;
                        for (ki = 0; ki < kh; ++ki) {
                            int64_t yy = oy * p->strides[0] - p->pads[0] + ki * p->dilations[0];
                            if (yy < 0 || yy >= ih) {
                                continue;
                            }
                            for (kj = 0; kj < kw; ++kj) {
                                /* the outputs of this run whose tap kj lands inside the row */
                                int64_t shift = kj * p->dilations[1] - p->pads[1];
                                int64_t lo = ceil_div(-shift, p->strides[1]);
                                int64_t hi = floor_div(iw - 1 - shift, p->strides[1]) + 1;
                                int32_t wv = ep_q_load(w, wbase + ki * kw + kj) - zw;
                                lo = lo > ox0 ? lo : ox0;
                                hi = hi < ox0 + width ? hi : ox0 + width;
                                if (lo >= hi || wv == 0) {
                                    continue;
                                }
                                q8_tile_add(&tile, lo - ox0, wv, x, xbase + yy * iw + lo * p->strides[1] + shift,
                                            p->strides[1], hi - lo, zx);
                            }
                        }
                    }
                    q8_fold(&tile);
                    for (j = 0; j < width; ++j) {
                        ep_qout_store(y, base + oy * ow + ox0 + j, tile.tot[j], m, q);
                    }
                }
            }
        }
    }
}

void ep_qmatmul_run(const ep_tensor *a, int32_t za, const ep_tensor *b, ep_tensor *y, const ep_qout *q)
{
    q8_tile tile;
    int64_t kdim = b->dims[0];
    int64_t ncol = b->dims[1];
    int64_t rows = kdim ? ep_numel(a) / kdim : ep_numel(y) / (ncol ? ncol : 1);
    int64_t r, c0, k, j;
    if (ep_qmatmul_dot(a, za, b, y, q)) { /* byte dot products where the compiler has them (ep_qgemm.h) */
        return;
    }
    for (r = 0; r < rows; ++r) {
        int64_t rowsum = 0; /* sum of (a - za) over the row: what b's zero points take off each column */
        for (k = 0; k < kdim; ++k) {
            rowsum += ep_q_load(a, r * kdim + k) - za;
        }
        for (c0 = 0; c0 < ncol; c0 += EP_QTILE) {
            int64_t width = ncol - c0 < EP_QTILE ? ncol - c0 : EP_QTILE;
            q8_tile_start(&tile, width);
            for (k = 0; k < kdim; ++k) {
                int32_t av = ep_q_load(a, r * kdim + k) - za;
                if (av == 0) {
                    continue;
                }
                q8_tile_add(&tile, 0, av, b, k * ncol + c0, 1, width, 0);
            }
            q8_fold(&tile);
            for (j = 0; j < width; ++j) {
                ep_qout_store(y, r * ncol + c0 + j, tile.tot[j] - (int64_t)ep_qout_zero_point(q, c0 + j) * rowsum,
                              c0 + j, q);
            }
        }
    }
}

int ep_qmatmul_check(const ep_tensor *a, const ep_tensor *b, const ep_tensor *y)
{
    int32_t d;
    if (a->rank < 2 || b->rank != 2 || y->rank != a->rank || a->dims[a->rank - 1] != b->dims[0] ||
        y->dims[y->rank - 1] != b->dims[1]) {
        return EP_ERR_SHAPE;
    }
    for (d = 0; d < a->rank - 1; ++d) {
        if (y->dims[d] != a->dims[d]) {
            return EP_ERR_SHAPE;
        }
    }
    return EP_OK;
}

int ep_qparams_ok(const int64_t *params, int64_t n, int64_t channels)
{
    return params != NULL && (n == 1 || n == channels);
}

int ep_check_zero_points(const ep_tensor *zp, const ep_tensor *data, int64_t channels, int64_t *n)
{
    int rc;
    *n = 0;
    if (zp == NULL) {
        return EP_OK;
    }
    rc = ep_check_dtype(zp, data->dtype);
    if (rc != EP_OK) {
        return rc;
    }
    *n = ep_numel(zp);
    return *n == 1 || (*n == channels && zp->rank == 1) ? EP_OK : EP_ERR_SHAPE;
}

int32_t ep_zero_point_at(const ep_tensor *zp, int64_t n, int64_t c)
{
    return n == 0 ? 0 : ep_q_load(zp, n > 1 ? c : 0);
}
