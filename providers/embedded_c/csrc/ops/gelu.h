/* gelu.h: ONNX Gelu (float32). */
#ifndef EP_OP_GELU_H
#define EP_OP_GELU_H

#include "ep_tensor.h"

/* y = x / 2 * (1 + erf(x / sqrt(2))); with `approximate` 1 (approximate="tanh"),
 * y = x / 2 * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 x^3))). EP_ERR_ARG unless approximate is 0 or 1. */
int ep_gelu(const ep_tensor *x, ep_tensor *y, int32_t approximate);

#endif
