/* ep_quant.h: what the int8 operators share: 8-bit loads and saturating stores, and requantization
 * as CMSIS-NN and gemmlowp do it.
 *
 * A real multiplier M = in_scale * w_scale / out_scale is turned, at lowering time, into a Q31
 * `mult` in [2^30, 2^31) and a `shift` (M = mult * 2^(shift - 31)); an int32 accumulator becomes
 *   x = rounding_doubling_high_mul(acc * 2^max(shift, 0), mult)
 *   y = rounding_divide_by_power_of_two(x, max(-shift, 0))       (ties away from zero)
 * with no floating point at run time. */
#ifndef EP_QUANT_H
#define EP_QUANT_H

#include "ep_tensor.h"
#include "ep_window.h"

/* Range of the shifts accepted (|M| between 2^-32 and 2^30). */
#define EP_QUANT_MIN_SHIFT (-31)
#define EP_QUANT_MAX_SHIFT 30

/* EP_OK when `t` is a usable contiguous uint8 or int8 descriptor (see ep_check). */
int ep_check_q8(const ep_tensor *t);

/* Whether `mult` is a Q31 multiplier in [2^30, 2^31) (or 0) and `shift` within the range above. */
int ep_requant_ok(int64_t mult, int64_t shift);

/* Whether `zp` is a zero point of `t`'s type (0..255 for uint8, -128..127 for int8). */
int ep_zero_point_ok(const ep_tensor *t, int64_t zp);

/* EP_OK when y has t's shape (else EP_ERR_SHAPE) and `n` per-axis parameters (scale and zero_point not
 * NULL) fit `t` along `axis` (n = 1: per tensor, axis unused; else n = t's extent along axis), else
 * EP_ERR_ARG; sets *inner (elements after the axis) and *channels (n). The channel of element i is then
 * (i / inner) % channels. */
int ep_quant_axis(const ep_tensor *t, const ep_tensor *y, int32_t axis, const float *scale, const int64_t *zero_point, int64_t n,
                  int64_t *inner, int64_t *channels);

/* Element i of a uint8, int8 or int32 tensor. */
int32_t ep_q_load(const ep_tensor *t, int64_t i);

/* Stores v + zp into element i of a uint8 or int8 tensor, saturated to its range. */
void ep_q_store(ep_tensor *t, int64_t i, int64_t v);

/* The requantized value of `acc` (mult and shift as above); the accumulator is saturated to int32. */
int32_t ep_requantize(int64_t acc, int32_t mult, int32_t shift);

/* EP_OK when x (N x C x [H x] W), w (M x C/group x [kh x] kw) and y (N x M x ...) agree with each
 * other and with `p` (as ep_conv checks them; element types are the caller's to check). */
int ep_qconv_check(const ep_tensor *x, const ep_tensor *w, const ep_tensor *y, const ep_conv_params *p);

/* How the sums of an int8 operator become its output, per output channel c (a column of a matrix
 * product, a feature map of a convolution). */
typedef struct ep_qout {
    const int64_t *zp;      /* zero points of the second operand (w, b): n_zp values, or ... */
    const ep_tensor *zp_t;  /* ... a tensor of them (MatMulInteger, ConvInteger); both NULL: 0 */
    int64_t n_zp;           /* 1 or one per channel */
    const int64_t *mult;    /* requantization (ep_requantize) of n_q channels; NULL: the output is the */
    const int64_t *shift;   /* int32 sum itself, saturated */
    int64_t n_q;
    int64_t y_zp;           /* the output's zero point (requantized outputs) */
    const ep_tensor *bias;  /* int32, one per channel, added to the sums; or NULL */
} ep_qout;

/* Fills `q` for a requantizing operator (QLinearConv, QLinearMatMul) and checks it: EP_ERR_ARG unless
 * w's n_w zero points and the n_q multipliers and shifts each number 1 or `channels`, every zero point
 * (x_zp, w's, y_zp) is one of its tensor's type, and every (mult, shift) is in range (ep_requant_ok). */
int ep_qout_requant(ep_qout *q, const ep_tensor *x, int64_t x_zp, const ep_tensor *w, const int64_t *w_zp,
                    int64_t n_w, const ep_tensor *y, int64_t y_zp, const int64_t *mult, const int64_t *shift,
                    int64_t n_q, const ep_tensor *bias, int64_t channels);

/* Zero point of the second operand for channel c. */
int32_t ep_qout_zero_point(const ep_qout *q, int64_t c);

/* y[i] = the output of sum `acc` of channel c, as `q` says. */
void ep_qout_store(ep_tensor *y, int64_t i, int64_t acc, int64_t c, const ep_qout *q);

/* The quantized convolution of x (zero point zx) with w into y, once ep_qconv_check passed:
 * sum over each window of (x - zx) * (w - zw), zero outside x (padding holds the zero point),
 * stored by ep_qout_store. Accumulates in int32 over runs of outputs along a row (contiguous when
 * the stride is 1, so compilers vectorise it), folded into int64 before an int32 could overflow. */
void ep_qconv_run(const ep_tensor *x, int32_t zx, const ep_tensor *w, ep_tensor *y, const ep_conv_params *p,
                  const ep_qout *q);

/* The quantized matrix product of a (..., M, K; zero point za) by b (K, N) into y (..., M, N), once
 * ep_qmatmul_check passed: sums of (a - za) * (b - zb) stored by ep_qout_store. Accumulates in int32
 * along rows of b (contiguous), folded into int64 before an int32 could overflow. */
void ep_qmatmul_run(const ep_tensor *a, int32_t za, const ep_tensor *b, ep_tensor *y, const ep_qout *q);

/* EP_OK when a (..., M, K), b (K, N) and y (..., M, N) agree: b 2-D, y's leading dims a's. */
int ep_qmatmul_check(const ep_tensor *a, const ep_tensor *b, const ep_tensor *y);

/* EP_OK when `zp` (NULL: zero) is a zero-point tensor for `data`: the same element type, 1 or
 * `channels` elements (its count stored in *n; 0 for NULL). */
int ep_check_zero_points(const ep_tensor *zp, const ep_tensor *data, int64_t channels, int64_t *n);

/* Zero point of channel c from a tensor checked by ep_check_zero_points (0 when n is 0). */
int32_t ep_zero_point_at(const ep_tensor *zp, int64_t n, int64_t c);

/* EP_OK when an array of n per-channel parameters fits `channels` (n is 1 or channels, p not NULL). */
int ep_qparams_ok(const int64_t *params, int64_t n, int64_t channels);

#endif /* EP_QUANT_H */
