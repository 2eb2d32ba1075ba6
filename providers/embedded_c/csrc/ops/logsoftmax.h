/* logsoftmax.h: ONNX LogSoftmax (float32). */
#ifndef EP_OP_LOGSOFTMAX_H
#define EP_OP_LOGSOFTMAX_H

#include "ep_tensor.h"

/* y = x - max - log(sum(exp(x - max))) along `axis` (with `flatten` 1, over all axes from `axis`
 * on, as LogSoftmax before opset 13); double accumulation; NaN in a row makes the row NaN.
 * EP_ERR_ARG for an axis outside the rank or flatten not 0 or 1; EP_ERR_SHAPE when y is not x's shape. */
int ep_logsoftmax(const ep_tensor *x, ep_tensor *y, int32_t axis, int32_t flatten);

#endif
