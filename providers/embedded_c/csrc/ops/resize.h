/* resize.h: ONNX Resize (float32) over the last two axes, from per-axis tap tables. */
#ifndef EP_OP_RESIZE_H
#define EP_OP_RESIZE_H

#include "ep_tensor.h"

/* Separable resampling of the last two axes of x (rank >= 2; the leading axes must be equal in y):
 *   t[oh, w]  = sum_k wh[oh * th + k] * x[ih[oh * th + k], w]      (rows first, in float)
 *   y[oh, ow] = sum_k ww[ow * tw + k] * t[oh, iw[ow * tw + k]]
 * `th` / `tw` taps per output position (1 for nearest, 2 for linear, 4 for cubic); the tables hold
 * y's extent times the taps (the caller computes them from the coordinate mode). EP_ERR_ARG for
 * NULL tables or taps < 1; EP_ERR_SHAPE when the leading axes differ or a table index lies outside
 * the input axis. */
int ep_resize(const ep_tensor *x, ep_tensor *y, int32_t th, const int64_t *ih, const float *wh, int32_t tw,
              const int64_t *iw, const float *ww);

#endif
