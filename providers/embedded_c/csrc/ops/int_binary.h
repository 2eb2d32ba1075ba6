/* int_binary.h: ONNX Add, Sub and Mul on int32 and int64 tensors (multidirectional broadcasting). */
#ifndef EP_OP_INT_BINARY_H
#define EP_OP_INT_BINARY_H

#include "ep_tensor.h"

#define EP_INT_ADD 0
#define EP_INT_SUB 1
#define EP_INT_MUL 2

/* y = a (op) b elementwise, a, b and y all int32 or all int64; y has the broadcast shape of a and b.
 * Results wrap around on overflow (two's complement), as onnxruntime's and numpy's do: the arithmetic
 * is done on the unsigned type, so no overflow is undefined behaviour. */
int ep_int_binary(const ep_tensor *a, const ep_tensor *b, ep_tensor *y, int32_t op);

#endif
