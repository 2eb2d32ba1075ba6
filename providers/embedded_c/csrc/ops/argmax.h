/* argmax.h: ONNX ArgMax and ArgMin (float32, uint8, int8, int32, int64 data; int64 indices). */
#ifndef EP_OP_ARGMAX_H
#define EP_OP_ARGMAX_H

#include "ep_tensor.h"

/* y[o, i] = the index along `axis` of the largest (is_min: smallest) element of x[o, :, i]: the first such
 * index, the last with `select_last`; a NaN counts as larger and smaller than any number (its first, or last,
 * index wins), as numpy's argmax and argmin. y (int64) holds x's elements with the axis removed or kept as 1
 * (keepdims changes only its shape). EP_ERR_ARG for an axis outside the rank or flags other than 0 and 1,
 * EP_ERR_DTYPE for another element type, EP_ERR_SHAPE when y's size disagrees or the axis is empty while
 * y is not. */
int ep_argmax(const ep_tensor *x, ep_tensor *y, int32_t axis, int32_t select_last, int32_t is_min);

#endif
