/* pow.h: ONNX Pow (float32 base and exponent, numpy broadcasting). */
#ifndef EP_OP_POW_H
#define EP_OP_POW_H

#include "ep_tensor.h"

/* y = a ^ b elementwise with broadcasting; y must have the broadcast shape. */
int ep_pow(const ep_tensor *a, const ep_tensor *b, ep_tensor *y);

#endif
