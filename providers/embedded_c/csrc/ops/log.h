/* log.h: ONNX Log (float32). */
#ifndef EP_OP_LOG_H
#define EP_OP_LOG_H

#include "ep_tensor.h"

/* y = log(x) (NaN for x < 0, -inf at 0). */
int ep_log(const ep_tensor *x, ep_tensor *y);

#endif
