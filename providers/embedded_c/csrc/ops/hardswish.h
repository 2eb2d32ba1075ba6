/* hardswish.h: ONNX HardSwish (float32). */
#ifndef EP_OP_HARDSWISH_H
#define EP_OP_HARDSWISH_H

#include "ep_tensor.h"

/* y = x * max(0, min(1, x / 6 + 1 / 2)); NaN stays NaN. */
int ep_hardswish(const ep_tensor *x, ep_tensor *y);

#endif
