/* ceil.h: ONNX Ceil (float32). */
#ifndef EP_OP_CEIL_H
#define EP_OP_CEIL_H

#include "ep_tensor.h"

/* y = ceil(x) (NaN and infinities kept). */
int ep_ceil(const ep_tensor *x, ep_tensor *y);

#endif
