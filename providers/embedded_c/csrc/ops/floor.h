/* floor.h: ONNX Floor (float32). */
#ifndef EP_OP_FLOOR_H
#define EP_OP_FLOOR_H

#include "ep_tensor.h"

/* y = floor(x) (NaN and infinities kept). */
int ep_floor(const ep_tensor *x, ep_tensor *y);

#endif
