/* sqrt.h: ONNX Sqrt (float32). */
#ifndef EP_OP_SQRT_H
#define EP_OP_SQRT_H

#include "ep_tensor.h"

/* y = sqrt(x) (NaN for x < 0). */
int ep_sqrt(const ep_tensor *x, ep_tensor *y);

#endif
