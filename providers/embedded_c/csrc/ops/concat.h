/* concat.h: ONNX Concat (float32). */
#ifndef EP_OP_CONCAT_H
#define EP_OP_CONCAT_H

#include "ep_tensor.h"

/* y = the n inputs joined along `axis` (normalised, >= 0). */
int ep_concat(const ep_tensor *const *xs, int32_t n, int32_t axis, ep_tensor *y);

#endif
