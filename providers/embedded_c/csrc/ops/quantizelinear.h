/* quantizelinear.h: ONNX QuantizeLinear (float32 to uint8 / int8, per tensor or per axis). */
#ifndef EP_OP_QUANTIZELINEAR_H
#define EP_OP_QUANTIZELINEAR_H

#include "ep_tensor.h"

/* y = saturate(round_half_even(x / scale) + zero_point), with `n` scales and zero points: one for
 * the whole tensor, or one per index of `axis`. NaN becomes the zero point. EP_ERR_ARG for NULL
 * arrays, n neither 1 nor the axis' length, a scale not finite and > 0, a zero point outside y's
 * type or an axis outside the rank (when n > 1); EP_ERR_SHAPE when y's shape is not x's. */
int ep_quantizelinear(const ep_tensor *x, ep_tensor *y, int32_t axis, const float *scale, const int64_t *zero_point,
                      int64_t n);

#endif
