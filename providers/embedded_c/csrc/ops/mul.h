/* mul.h: ONNX Mul (float32, multidirectional broadcasting). */
#ifndef EP_OP_MUL_H
#define EP_OP_MUL_H

#include "ep_tensor.h"

/* y = a * b elementwise; y has the broadcast shape of a and b. */
int ep_mul(const ep_tensor *a, const ep_tensor *b, ep_tensor *y);

#endif
