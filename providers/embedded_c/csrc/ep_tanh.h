/* ep_tanh.h: ep_tanhf, a tanhf written so that a loop calling it vectorizes (libm's tanhf is an opaque
 * call per element: about 35 ns each, 0.3 s for the 8.4 million elements of tashkeel_bilstm's attention).
 *
 * Cephes' odd polynomial for |x| <= 0.625, (1 - e) / (1 + e) with e = ep_expf(-2 |x|) above (no
 * cancellation there: e < 0.29); relative error about 1.5e-7 against double precision. NaN stays NaN,
 * +-inf gives +-1, +-0 stays +-0; the sign and |x| by comparisons, not copysignf and fabsf (GCC 12 does
 * not vectorize those in C99 mode). The same function as ep_rnn.c's recurrent tanh.
 */
#ifndef EP_TANH_H
#define EP_TANH_H

#include "ep_exp.h"

static inline float ep_tanhf(float x)
{
    float a = x < 0.0f ? -x : x;
    float e = ep_expf(-2.0f * a);
    float big = (1.0f - e) / (1.0f + e);
    float z = a * a;
    float small = ((((-5.70498872745e-3f * z + 2.06390887954e-2f) * z - 5.37397155531e-2f) * z +
                    1.33314422036e-1f) * z - 3.33332819422e-1f) * z * a + a;
    float t = a > 0.625f ? big : small;
    return x < 0.0f ? -t : (x > 0.0f ? t : x); /* x itself for +-0 and NaN */
}

#endif /* EP_TANH_H */
