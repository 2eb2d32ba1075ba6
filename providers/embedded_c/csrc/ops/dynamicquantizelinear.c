/* dynamicquantizelinear.c: default ONNX DynamicQuantizeLinear kernel. */
#include <math.h>
#include <string.h>

#include "dynamicquantizelinear.h"
#include "ep_quant.h"

/* The range of x and 0 as min / max reductions the compiler vectorises: compiled as finite math, since with a
 * NaN or an infinity among them the order of the operands of a min would matter; those are told apart by their
 * exponent bits (all ones), and the caller then takes its exact loop. Returns 1 when x holds neither (*lo, *hi
 * set; a -0 minimum is harmless: 0 - -0 is 0), else 0. */
#if defined(__GNUC__) && !defined(__clang__)
#define EP_FINITE_MATH __attribute__((optimize("finite-math-only,no-signed-zeros")))
#else
#define EP_FINITE_MATH
#endif
EP_FINITE_MATH static int range_finite(const float *x, int64_t n, float *lo_out, float *hi_out)
{
    float lo = 0.0f, hi = 0.0f;
    uint32_t exponent = 0; /* the largest exponent field seen */
    int64_t i;
    for (i = 0; i < n; ++i) {
        uint32_t bits;
        memcpy(&bits, x + i, sizeof bits);
        bits &= 0x7f800000u;
        exponent = bits > exponent ? bits : exponent;
        lo = x[i] < lo ? x[i] : lo;
        hi = x[i] > hi ? x[i] : hi;
    }
    *lo_out = lo;
    *hi_out = hi;
    return exponent != 0x7f800000u;
}

int ep_dynamicquantizelinear(const ep_tensor *x, ep_tensor *y, ep_tensor *y_scale, ep_tensor *y_zero_point)
{
    const float *px;
    uint8_t *py;
    float lo = 0.0f, hi = 0.0f, scale, zp;
    int64_t n, i;
    int rc = ep_check(x);
    if (rc == EP_OK) {
        rc = ep_check_dtype(y, EP_UINT8);
    }
    if (rc == EP_OK) {
        rc = ep_check(y_scale);
    }
    if (rc == EP_OK) {
        rc = ep_check_dtype(y_zero_point, EP_UINT8);
    }
    if (rc != EP_OK) {
        return rc;
    }
    if (!ep_same_shape(x, y) || ep_numel(y_scale) != 1 || ep_numel(y_zero_point) != 1) {
        return EP_ERR_SHAPE;
    }
    px = (const float *)x->data;
    n = ep_numel(x);
    if (!range_finite(px, n, &lo, &hi)) {
        /* eight running minima and maxima: a compare-select per lane, which compilers vectorize (one
         * running pair would be a reduction they may not reorder); NaN never wins a comparison */
        float los[8] = {0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
        float his[8] = {0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
        int64_t j;
        lo = 0.0f;
        hi = 0.0f;
        for (i = 0; i + 8 <= n; i += 8) {
            for (j = 0; j < 8; ++j) {
                float v = px[i + j];
                los[j] = v < los[j] ? v : los[j];
                his[j] = v > his[j] ? v : his[j];
            }
        }
        for (; i < n; ++i) {
            lo = px[i] < lo ? px[i] : lo;
            hi = px[i] > hi ? px[i] : hi;
        }
        for (j = 0; j < 8; ++j) {
            lo = los[j] < lo ? los[j] : lo;
            hi = his[j] > hi ? his[j] : hi;
        }
    }
    if (!(hi - lo <= 3.4e38f)) {
        return EP_ERR_ARG;
    }
    scale = (hi == lo ? 1.0f : hi - lo) / 255.0f;
    zp = 0.0f - lo / scale;
    zp = rintf(zp < 0.0f ? 0.0f : (zp > 255.0f ? 255.0f : zp));
    ((float *)y_scale->data)[0] = scale;
    ((uint8_t *)y_zero_point->data)[0] = (uint8_t)zp;
    py = (uint8_t *)y->data;
    for (i = 0; i < n; ++i) { /* in float: zp and a q past [-255, 510] both saturate alike; one loop that
                               * vectorizes, no call per element */
        float q = rintf(px[i] / scale);
        q = q != q ? 0.0f : q;
        q += zp;
        py[i] = (uint8_t)(q < 0.0f ? 0.0f : (q > 255.0f ? 255.0f : q));
    }
    return EP_OK;
}
