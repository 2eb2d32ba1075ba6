/* ep_tanh.h: ep_tanhf, a tanhf written so that a loop calling it vectorizes (libm's tanhf is an opaque
 * call per element: about 35 ns each, 0.3 s for the 8.4 million elements of tashkeel_bilstm's attention).
 *
 * The rational approximation the cpu provider's native kernels use (providers/cpu/native/csrc/ep_native.h,
 * Eigen's float tanh): x clamped to +-7.9053 (where it gives +-1), then x p(x^2) / q(x^2), one division
 * and no exponential (twice as fast as (1 - e) / (1 + e) with e = exp(-2|x|), which also needs a
 * polynomial near 0); relative error at most 4e-7 against double precision (3e-7 with fused multiply-adds;
 * a few ulp). |x| < 4e-4 gives x itself (tanh x rounds to x there), so +-0 stays +-0 and NaN stays NaN;
 * +-inf gives +-1.
 * The same function as ep_rnn.c's recurrent tanh.
 */
#ifndef EP_TANH_H
#define EP_TANH_H

static inline float ep_tanhf(float x)
{
    const float bound = 7.90531110763549805f;
    float v = x > bound ? bound : x;
    float z, p, q, a;
    v = v < -bound ? -bound : v;
    z = v * v;
    p = -2.76076847742355e-16f;
    p = p * z + 2.00018790482477e-13f;
    p = p * z - 8.60467152213735e-11f;
    p = p * z + 5.12229709037114e-08f;
    p = p * z + 1.48572235717979e-05f;
    p = p * z + 6.37261928875436e-04f;
    p = p * z + 4.89352455891786e-03f;
    q = 1.19825839466702e-06f;
    q = q * z + 1.18534705686654e-04f;
    q = q * z + 2.26843463243900e-03f;
    q = q * z + 4.89352518554385e-03f;
    a = x < 0.0f ? -x : x;
    return a < 0.0004f ? x : v * p / q;
}

#endif /* EP_TANH_H */
