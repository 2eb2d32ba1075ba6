/* sum.h: ONNX Sum (float32, n inputs, multidirectional broadcasting). */
#ifndef EP_OP_SUM_H
#define EP_OP_SUM_H

#include "ep_tensor.h"

/* y = xs[0] + xs[1] + ... (left to right). */
int ep_sum(const ep_tensor *const *xs, int32_t n, ep_tensor *y);

#endif
