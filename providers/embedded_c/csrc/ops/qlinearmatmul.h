/* qlinearmatmul.h: ONNX QLinearMatMul (uint8 / int8; a of rank >= 2 times a 2-D b). */
#ifndef EP_OP_QLINEARMATMUL_H
#define EP_OP_QLINEARMATMUL_H

#include "ep_tensor.h"

/* y (..., M, N) = y_zp + requantize(sum_k (a[..., m, k] - a_zp) * (b[k, n] - b_zp[n])) with the
 * fixed-point multiplier and shift of column n (ep_quant.h): `b_zp`, `mult` and `shift` hold 1 or
 * N values. EP_ERR_ARG for NULL or mis-sized arrays, zero points outside their type or a multiplier
 * or shift out of range; EP_ERR_SHAPE when the descriptors disagree. */
int ep_qlinearmatmul(const ep_tensor *a, int64_t a_zp, const ep_tensor *b, const int64_t *b_zp, int64_t n_b,
                     ep_tensor *y, int64_t y_zp, const int64_t *mult, const int64_t *shift, int64_t n_q);

#endif
