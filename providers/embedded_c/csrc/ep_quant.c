/* ep_quant.c: 8-bit loads and stores and fixed-point requantization (see ep_quant.h). */
#include "ep_quant.h"

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

int64_t ep_qconv_acc(const ep_tensor *x, int32_t zx, const ep_tensor *w, int32_t zw, const ep_conv_params *p,
                     int64_t nb, int64_t m, int64_t oy, int64_t ox)
{
    int64_t ih, iw, ci, ki, kj;
    int64_t cg = w->dims[1];
    int64_t g = m / (w->dims[0] / p->group);
    int64_t acc = 0;
    ep_window_spatial(x, &ih, &iw);
    for (ci = 0; ci < cg; ++ci) {
        int64_t xbase = (nb * x->dims[1] + g * cg + ci) * ih * iw;
        int64_t wbase = ((m * cg) + ci) * p->kernel[0] * p->kernel[1];
        for (ki = 0; ki < p->kernel[0]; ++ki) {
            int64_t yy = oy * p->strides[0] - p->pads[0] + ki * p->dilations[0];
            if (yy < 0 || yy >= ih) {
                continue;
            }
            for (kj = 0; kj < p->kernel[1]; ++kj) {
                int64_t xx = ox * p->strides[1] - p->pads[1] + kj * p->dilations[1];
                if (xx < 0 || xx >= iw) {
                    continue;
                }
                acc += (int64_t)(ep_q_load(x, xbase + yy * iw + xx) - zx) *
                       (ep_q_load(w, wbase + ki * p->kernel[1] + kj) - zw);
            }
        }
    }
    return acc;
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
