/* gather.h: ONNX Gather (data of any element type of ep_tensor.h, y of the same; int64 or int32 indices,
 * constant or computed at run time). */
#ifndef EP_OP_GATHER_H
#define EP_OP_GATHER_H

#include "ep_tensor.h"

/* y = take(x, indices, axis): each index (negative ones count from the end) picks a slice of x
 * along `axis`; y holds x's dims before the axis, then the indices' shape, then x's dims after it
 * (any shape with that many elements in that order). EP_ERR_ARG for an axis outside the rank;
 * EP_ERR_DTYPE unless the indices are int64 or int32 and y has x's element type; EP_ERR_SHAPE when
 * y's size disagrees or an index lies outside -dim..dim-1 (checked before anything is written). */
int ep_gather(const ep_tensor *x, const ep_tensor *indices, ep_tensor *y, int32_t axis);

#endif
