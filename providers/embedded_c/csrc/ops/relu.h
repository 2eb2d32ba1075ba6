/* relu.h: ONNX Relu (float32). */
#ifndef EP_OP_RELU_H
#define EP_OP_RELU_H

#include "ep_tensor.h"

/* y = max(x, 0). */
int ep_relu(const ep_tensor *x, ep_tensor *y);

#endif
