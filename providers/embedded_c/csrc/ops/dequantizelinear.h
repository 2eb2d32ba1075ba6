/* dequantizelinear.h: ONNX DequantizeLinear (uint8 / int8 / int32 to float32, per tensor or per axis). */
#ifndef EP_OP_DEQUANTIZELINEAR_H
#define EP_OP_DEQUANTIZELINEAR_H

#include "ep_tensor.h"

/* y = (x - zero_point) * scale, with `n` scales and zero points: one for the whole tensor, or one
 * per index of `axis`. EP_ERR_ARG for NULL arrays, n neither 1 nor the axis' length, or an axis
 * outside the rank (when n > 1); EP_ERR_DTYPE unless x is uint8, int8 or int32 and y float32;
 * EP_ERR_SHAPE when y's shape is not x's. */
int ep_dequantizelinear(const ep_tensor *x, ep_tensor *y, int32_t axis, const float *scale,
                        const int64_t *zero_point, int64_t n);

#endif
