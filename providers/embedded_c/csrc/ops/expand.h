/* expand.h: ONNX Expand (any element type of ep_tensor.h). */
#ifndef EP_OP_EXPAND_H
#define EP_OP_EXPAND_H

#include "ep_tensor.h"

/* y = x broadcast (numpy's rules) to y's shape, which must be exactly the broadcast of x's dims and the
 * `shape` input (resolved at lowering time into y's dims). EP_ERR_DTYPE unless y has x's element type;
 * EP_ERR_SHAPE when x does not broadcast to y or y is not that broadcast (rank below x's, an axis of y
 * other than x's where x's is not 1). */
int ep_expand(const ep_tensor *x, ep_tensor *y);

#endif
