/* abs.h: ONNX Abs (float32). */
#ifndef EP_OP_ABS_H
#define EP_OP_ABS_H

#include "ep_tensor.h"

/* y = |x|. */
int ep_abs(const ep_tensor *x, ep_tensor *y);

#endif
