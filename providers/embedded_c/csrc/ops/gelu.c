/* gelu.c: default ONNX Gelu kernel.
 *
 * Exact form: 0.5 x (1 + erf(x / sqrt 2)) with erf by Abramowitz & Stegun 7.1.26 (as the cpu
 * provider's numpy kernel): for z = |x| / sqrt 2, 1 - erf(z) = t * poly(t) * exp(-z^2) with
 * t = 1 / (1 + 0.3275911 z), exp by ep_expf, so the loop vectorizes (libm's erff is a call per
 * element). With e = t * poly(t) * exp(-z^2), Gelu is 0.5 x (2 - e) for x >= 0 and 0.5 x e for x < 0
 * (no cancellation in 1 + erf for negative x). Largest error against Gelu in double over
 * |x| <= 12: 4.2e-7 absolute (the erff form: 4.5e-7), relative under 2e-4 where |Gelu| > 1e-3
 * (A&S's own, in the tail x < -3).
 * Tanh form: 0.5 x (1 + tanh(u)) = x / (1 + exp(-2u)), u = sqrt(2 / pi) (x + 0.044715 x^3)
 * (largest error 5.2e-7 absolute).
 * NaN stays NaN; +inf gives +inf, -inf NaN (0 * inf), as the libm forms do.
 */
#include "gelu.h"
#include "ep_exp.h"
#include "ep_unary.h"

static float gelu_erf(float v)
{
    float z = (v < 0.0f ? -v : v) * 0.7071067811865476f;
    float t = 1.0f / (1.0f + 0.3275911f * z);
    float poly = t * (0.254829592f + t * (-0.284496736f + t * (1.421413741f + t * (-1.453152027f + t * 1.061405429f))));
    float e = poly * ep_expf(-z * z);
    return v < 0.0f ? 0.5f * v * e : 0.5f * v * (2.0f - e);
}

int ep_gelu(const ep_tensor *x, ep_tensor *y, int32_t approximate)
{
    if (approximate != 0 && approximate != 1) {
        return EP_ERR_ARG;
    }
    if (approximate) {
        EP_UNARY_BODY(v / (1.0f + ep_expf(-1.5957691216057308f * (v + 0.044715f * v * v * v))))
    }
    {
        EP_UNARY_BODY(gelu_erf(v))
    }
}
