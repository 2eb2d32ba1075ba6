/* dynamicquantizelinear.h: ONNX DynamicQuantizeLinear (float32 to uint8 with its scale and zero point). */
#ifndef EP_OP_DYNAMICQUANTIZELINEAR_H
#define EP_OP_DYNAMICQUANTIZELINEAR_H

#include "ep_tensor.h"

/* The range [min(0, min x), max(0, max x)] mapped onto 0..255: y_scale = (max - min) / 255 (1 / 255
 * when max == min), y_zero_point = saturate(round(-min / y_scale)), y = saturate(round(x / y_scale)
 * + y_zero_point), rounding half to even; NaN elements are left out of the range and become the
 * zero point. y uint8 of x's shape; y_scale float32 and y_zero_point uint8, one element each.
 * EP_ERR_SHAPE when the shapes disagree; EP_ERR_ARG when the range is not finite. */
int ep_dynamicquantizelinear(const ep_tensor *x, ep_tensor *y, ep_tensor *y_scale, ep_tensor *y_zero_point);

#endif
