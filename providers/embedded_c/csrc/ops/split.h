/* split.h: ONNX Split (float32). */
#ifndef EP_OP_SPLIT_H
#define EP_OP_SPLIT_H

#include "ep_tensor.h"

/* Cuts x along `axis` into ys[0], ..., ys[n - 1] in order: each output matches x off the axis and
 * their lengths along it add up to x's. The outputs' data is written (their descriptors are not).
 * EP_ERR_ARG for NULL arrays, n < 1 or an axis outside the rank; EP_ERR_SHAPE for shapes that
 * disagree. */
int ep_split(const ep_tensor *x, int32_t axis, const ep_tensor *const *ys, int32_t n);

#endif
