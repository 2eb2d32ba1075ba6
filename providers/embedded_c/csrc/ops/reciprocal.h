/* reciprocal.h: ONNX Reciprocal (float32). */
#ifndef EP_OP_RECIPROCAL_H
#define EP_OP_RECIPROCAL_H

#include "ep_tensor.h"

/* y = 1 / x. */
int ep_reciprocal(const ep_tensor *x, ep_tensor *y);

#endif
