/* cast_int.h: ONNX Cast to int32 or int64 (from float32, int32 or int64). */
#ifndef EP_OP_CAST_INT_H
#define EP_OP_CAST_INT_H

#include "ep_tensor.h"

/* y = x converted to y's type (int32 or int64), x float32, int32 or int64 of y's shape. A float is
 * truncated toward zero; ONNX leaves values out of the target's range undefined: here they saturate
 * (NaN gives 0), so no conversion is undefined behaviour in C. An int64 narrowed to int32 keeps its low
 * 32 bits, as numpy's astype and onnxruntime do. */
int ep_cast_int(const ep_tensor *x, ep_tensor *y);

#endif
