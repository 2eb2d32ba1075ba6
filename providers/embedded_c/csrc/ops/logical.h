/* logical.h: ONNX And, Or and Xor (bool, broadcasting). */
#ifndef EP_OP_LOGICAL_H
#define EP_OP_LOGICAL_H

#include "ep_tensor.h"

/* Which operator ep_logical applies. */
#define EP_LOGICAL_AND 0
#define EP_LOGICAL_OR 1
#define EP_LOGICAL_XOR 2

/* y = a OP b, all EP_BOOL, a and b broadcast onto y (any non-zero byte reads as true). */
int ep_logical(const ep_tensor *a, const ep_tensor *b, ep_tensor *y, int32_t op);

#endif
