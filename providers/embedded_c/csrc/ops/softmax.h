/* softmax.h: ONNX Softmax (float32). */
#ifndef EP_OP_SOFTMAX_H
#define EP_OP_SOFTMAX_H

#include "ep_tensor.h"

/* Softmax along `axis` (normalised, >= 0); with `flatten` (opset < 13) over all axes from `axis` on. */
int ep_softmax(const ep_tensor *x, ep_tensor *y, int32_t axis, int32_t flatten);

#endif
