/* neg.h: ONNX Neg (float32). */
#ifndef EP_OP_NEG_H
#define EP_OP_NEG_H

#include "ep_tensor.h"

/* y = -x. */
int ep_neg(const ep_tensor *x, ep_tensor *y);

#endif
