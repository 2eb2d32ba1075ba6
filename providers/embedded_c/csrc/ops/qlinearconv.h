/* qlinearconv.h: ONNX QLinearConv (uint8 / int8, per-tensor or per-channel weights, 1-D and 2-D). */
#ifndef EP_OP_QLINEARCONV_H
#define EP_OP_QLINEARCONV_H

#include "ep_tensor.h"
#include "ep_window.h"

/* y = y_zp + requantize(bias + sum (x - x_zp) * (w - w_zp[m])) for each output channel m, with the
 * fixed-point multiplier and shift of channel m (ep_quant.h): `w_zp` holds 1 or M values, `mult`
 * and `shift` hold 1 or M. x, w, y uint8 or int8; bias int32 (M) or NULL. EP_ERR_ARG for bad
 * geometry (as ep_conv), NULL or mis-sized arrays, a zero point outside its type, or a multiplier
 * or shift out of range; EP_ERR_SHAPE when the descriptors disagree. */
int ep_qlinearconv(const ep_tensor *x, int64_t x_zp, const ep_tensor *w, const int64_t *w_zp, int64_t n_w,
                   const ep_tensor *bias, ep_tensor *y, int64_t y_zp, const int64_t *mult, const int64_t *shift,
                   int64_t n_q, const ep_conv_params *p);

#endif
