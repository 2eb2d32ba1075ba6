/* not.h: ONNX Not (bool). */
#ifndef EP_OP_NOT_H
#define EP_OP_NOT_H

#include "ep_tensor.h"

/* y = !x elementwise, both EP_BOOL of one shape. */
int ep_not(const ep_tensor *x, ep_tensor *y);

#endif
