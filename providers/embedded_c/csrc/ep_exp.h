/* ep_exp.h: ep_expf, an expf written so that a loop calling it vectorizes (libm's expf is an opaque
 * call per element), for the activations built on exp (Sigmoid, Swish).
 *
 * exp(x) = 2^n * exp(r) with n = round(x / ln 2) and r = x - n ln 2 (ln 2 split in two so r is
 * exact), exp(r) by Cephes' degree-7 polynomial for expf (relative error about 1e-7, a few ulp),
 * 2^n built in the exponent bits; rounding by adding and subtracting 1.5 * 2^23, so no libm call
 * and no branch. NaN stays NaN, +inf and x > 88.72 give +inf, -inf and x < -87.34 give 0; in between
 * x is clamped to [-86.5, 88.72] (so 2^n stays a normal float), which changes only results below
 * 3e-38 (where expf returns subnormals).
 */
#ifndef EP_EXP_H
#define EP_EXP_H

#include <math.h>
#include <stdint.h>
#include <string.h>

/* round(xc / ln 2), as a float, for xc already clamped to [-86.5, 88.72] */
static inline float ep_exp_steps(float xc)
{
    const float round_magic = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer */
    return (xc * 1.44269504088896341f + round_magic) - round_magic;
}

/* exp(xc - n ln 2), the polynomial on the reduced argument (n = ep_exp_steps(xc)) */
static inline float ep_exp_reduced(float xc, float n)
{
    float r = xc - n * 0.693359375f - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    return p * r * r + r + 1.0f;
}

static inline float ep_expf(float x)
{
    float xc = x < -86.5f ? -86.5f : (x > 88.72f ? 88.72f : x);
    float n = ep_exp_steps(xc);
    float p = ep_exp_reduced(xc, n);
    float scale;
    int32_t bits = ((int32_t)n + 126) << 23; /* 2^(n - 1): n - 1 + 127 stays in 1..254 */
    memcpy(&scale, &bits, sizeof scale);
    p = p * scale * 2.0f;
    p = x > 88.7228f ? INFINITY : p;
    p = x < -87.3365f ? 0.0f : p;
    return x != x ? x : p;
}

#endif /* EP_EXP_H */
