/* tanh.h: ONNX Tanh (float32). */
#ifndef EP_OP_TANH_H
#define EP_OP_TANH_H

#include "ep_tensor.h"

/* y = tanh(x). */
int ep_tanh(const ep_tensor *x, ep_tensor *y);

#endif
