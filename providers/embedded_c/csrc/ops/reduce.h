/* reduce.h: ONNX ReduceMean, ReduceSum, ReduceMax, ReduceMin (float32). */
#ifndef EP_OP_REDUCE_H
#define EP_OP_REDUCE_H

#include "ep_tensor.h"

#define EP_REDUCE_MEAN 0
#define EP_REDUCE_SUM 1
#define EP_REDUCE_MAX 2
#define EP_REDUCE_MIN 3

/* y = the mean, sum, max or min of x over the axes whose bit is set in `axes` (bit d: axis d);
 * y holds x's elements with those axes reduced, kept as 1 or dropped (any shape with that many
 * elements). Sums in double; max and min keep NaN (as numpy). An empty reduction gives 0 (sum),
 * NaN (mean), -inf (max) or +inf (min). EP_ERR_ARG for an unknown mode or an axis bit beyond the
 * rank; EP_ERR_SHAPE when y's size disagrees. */
int ep_reduce(const ep_tensor *x, ep_tensor *y, int64_t axes, int32_t mode);

#endif
