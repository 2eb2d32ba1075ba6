/* cast.h: ONNX Cast to float32 (from float32, int32, uint8 or int8). */
#ifndef EP_OP_CAST_H
#define EP_OP_CAST_H

#include "ep_tensor.h"

/* y = (float)x. EP_ERR_DTYPE unless y is float32 and x float32, int32, uint8 or int8; EP_ERR_SHAPE
 * when the shapes differ. */
int ep_cast(const ep_tensor *x, ep_tensor *y);

#endif
