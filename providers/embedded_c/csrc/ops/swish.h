/* swish.h: ONNX Swish and com.microsoft QuickGelu (float32). */
#ifndef EP_OP_SWISH_H
#define EP_OP_SWISH_H

#include "ep_tensor.h"

/* y = x * sigmoid(alpha * x) (SiLU when alpha is 1). */
int ep_swish(const ep_tensor *x, ep_tensor *y, float alpha);

#endif
