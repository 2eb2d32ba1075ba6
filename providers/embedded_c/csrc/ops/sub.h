/* sub.h: ONNX Sub (float32, multidirectional broadcasting). */
#ifndef EP_OP_SUB_H
#define EP_OP_SUB_H

#include "ep_tensor.h"

/* y = a - b elementwise; y has the broadcast shape of a and b. */
int ep_sub(const ep_tensor *a, const ep_tensor *b, ep_tensor *y);

#endif
