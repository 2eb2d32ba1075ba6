/* layernormalization.h: ONNX LayerNormalization (float32, output Y only). */
#ifndef EP_OP_LAYERNORMALIZATION_H
#define EP_OP_LAYERNORMALIZATION_H

#include "ep_tensor.h"

/* Each row of x (the axes from `axis` on, flattened) is normalized to mean 0 and variance 1
 * (population variance plus `epsilon`, double accumulation), then multiplied by `scale` and
 * shifted by `bias` (NULL: none), both holding one value per row element. EP_ERR_ARG for an axis
 * outside 0..rank-1 or a negative or NaN epsilon; EP_ERR_SHAPE when y's shape is not x's or scale
 * or bias does not hold exactly one value per row element. */
int ep_layernormalization(const ep_tensor *x, const ep_tensor *scale, const ep_tensor *bias, ep_tensor *y,
                          int32_t axis, float epsilon);

#endif
