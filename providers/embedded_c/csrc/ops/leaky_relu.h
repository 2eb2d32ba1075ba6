/* leaky_relu.h: ONNX LeakyRelu (float32). */
#ifndef EP_OP_LEAKY_RELU_H
#define EP_OP_LEAKY_RELU_H

#include "ep_tensor.h"

/* y = x for x >= 0, alpha * x otherwise. */
int ep_leaky_relu(const ep_tensor *x, ep_tensor *y, float alpha);

#endif
