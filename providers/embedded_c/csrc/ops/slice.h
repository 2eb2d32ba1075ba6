/* slice.h: ONNX Slice (float32) with starts and steps resolved by the caller. */
#ifndef EP_OP_SLICE_H
#define EP_OP_SLICE_H

#include "ep_tensor.h"

/* y[i_0, ..., i_r] = x[starts[0] + i_0 * steps[0], ...]: `starts` and `steps` hold one value per
 * axis (an unsliced axis has start 0, step 1), y's dims give the counts. EP_ERR_ARG for NULL
 * arrays or a step of 0; EP_ERR_SHAPE when the ranks differ or an index read falls outside x. */
int ep_slice(const ep_tensor *x, ep_tensor *y, const int64_t *starts, const int64_t *steps);

#endif
