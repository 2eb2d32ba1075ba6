/* softplus.h: ONNX Softplus (float32). */
#ifndef EP_OP_SOFTPLUS_H
#define EP_OP_SOFTPLUS_H

#include "ep_tensor.h"

/* y = log(1 + exp(x)), computed without overflow. */
int ep_softplus(const ep_tensor *x, ep_tensor *y);

#endif
