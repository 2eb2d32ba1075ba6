/* batchnormalization.h: ONNX BatchNormalization, inference mode (float32). */
#ifndef EP_OP_BATCHNORMALIZATION_H
#define EP_OP_BATCHNORMALIZATION_H

#include "ep_tensor.h"

/* y = scale * (x - mean) / sqrt(var + epsilon) + bias, per channel (axis 1).
 * scale, bias, mean and var hold exactly C values each (EP_ERR_SHAPE otherwise); y has x's shape. */
int ep_batchnormalization(const ep_tensor *x, const ep_tensor *scale, const ep_tensor *bias,
                          const ep_tensor *mean, const ep_tensor *var, ep_tensor *y, float epsilon);

#endif
