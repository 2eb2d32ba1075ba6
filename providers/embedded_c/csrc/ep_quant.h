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

/* Element i of a uint8, int8 or int32 tensor. */
int32_t ep_q_load(const ep_tensor *t, int64_t i);

/* Stores v + zp into element i of a uint8 or int8 tensor, saturated to its range. */
void ep_q_store(ep_tensor *t, int64_t i, int64_t v);

/* The requantized value of `acc` (mult and shift as above); the accumulator is saturated to int32. */
int32_t ep_requantize(int64_t acc, int32_t mult, int32_t shift);

/* EP_OK when x (N x C x [H x] W), w (M x C/group x [kh x] kw) and y (N x M x ...) agree with each
 * other and with `p` (as ep_conv checks them; element types are the caller's to check). */
int ep_qconv_check(const ep_tensor *x, const ep_tensor *w, const ep_tensor *y, const ep_conv_params *p);

/* sum over the window of output (nb, m, oy, ox) of (x - zx) * (w - zw), zero outside x (padding
 * holds the zero point), after ep_qconv_check passed. */
int64_t ep_qconv_acc(const ep_tensor *x, int32_t zx, const ep_tensor *w, int32_t zw, const ep_conv_params *p,
                     int64_t nb, int64_t m, int64_t oy, int64_t ox);

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
