/* matmulinteger.h: ONNX MatMulInteger (uint8 / int8 in, int32 out; a of rank >= 2 times a 2-D b). */
#ifndef EP_OP_MATMULINTEGER_H
#define EP_OP_MATMULINTEGER_H

#include "ep_tensor.h"

/* y (..., M, N) = sum_k (a[..., m, k] - a_zp) * (b[k, n] - b_zp[n]), saturated to int32. The zero
 * points are tensors of their data's type (NULL: 0; they may be computed at run time, as
 * DynamicQuantizeLinear does): a_zp one element, b_zp 1 or N. EP_ERR_DTYPE / EP_ERR_SHAPE when
 * the descriptors disagree. */
int ep_matmulinteger(const ep_tensor *a, const ep_tensor *a_zp, const ep_tensor *b, const ep_tensor *b_zp,
                     ep_tensor *y);

#endif
