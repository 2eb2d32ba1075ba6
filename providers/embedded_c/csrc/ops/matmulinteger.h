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

/* ep_matmulinteger with b (K x N, of element type b_dtype: EP_UINT8 or EP_INT8) given packed at generate time
 * (ep_qgemm.h): bt int8 (ceil(N / 4) * 4 x K), bsum int32 (N). EP_ERR_SHAPE when bt or bsum do not fit a
 * and y, EP_ERR_ARG for an int8 a whose rows are too long to flip a tile at a time. */
int ep_matmulinteger_packed(const ep_tensor *a, const ep_tensor *a_zp, const ep_tensor *bt, const ep_tensor *bsum,
                            const ep_tensor *b_zp, ep_tensor *y, int32_t b_dtype);

/* ep_matmulinteger_packed followed by the ops quantize_dynamic writes after it, as one call (ep_qgemm.h's
 * ep_qf_epilogue): y (float32) = act(float(sum + bias[n]) * scale[n]) with bias int32 (NULL: none) and scale
 * float32 of 1 or N elements each, act EP_QF_ACT_NONE or EP_QF_ACT_SWISH (alpha). */
int ep_matmulinteger_packed_f(const ep_tensor *a, const ep_tensor *a_zp, const ep_tensor *bt, const ep_tensor *bsum,
                              const ep_tensor *b_zp, const ep_tensor *bias, const ep_tensor *scale, ep_tensor *y,
                              int32_t b_dtype, int32_t act, float alpha);

#endif
