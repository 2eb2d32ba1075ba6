/* sigmoid.h: ONNX Sigmoid (float32). */
#ifndef EP_OP_SIGMOID_H
#define EP_OP_SIGMOID_H

#include "ep_tensor.h"

/* y = 1 / (1 + exp(-x)), computed without overflow. */
int ep_sigmoid(const ep_tensor *x, ep_tensor *y);

#endif
