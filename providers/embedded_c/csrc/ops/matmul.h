/* matmul.h: ONNX MatMul (float32, numpy semantics: 1-D operands, broadcast batch dims). */
#ifndef EP_OP_MATMUL_H
#define EP_OP_MATMUL_H

#include "ep_tensor.h"

/* y = a @ b. */
int ep_matmul(const ep_tensor *a, const ep_tensor *b, ep_tensor *y);

#endif
