/* gemm.h: ONNX Gemm (float32). */
#ifndef EP_OP_GEMM_H
#define EP_OP_GEMM_H

#include "ep_tensor.h"

/* y = alpha * op(a) * op(b) + beta * c, op = transpose when trans_* is set; a, b are 2-D;
 * c (or NULL) broadcasts unidirectionally to M x N. */
int ep_gemm(const ep_tensor *a, const ep_tensor *b, const ep_tensor *c, ep_tensor *y,
            float alpha, float beta, int32_t trans_a, int32_t trans_b);

#endif
