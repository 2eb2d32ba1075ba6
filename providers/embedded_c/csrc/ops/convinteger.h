/* convinteger.h: ONNX ConvInteger (uint8 / int8 in, int32 out, 1-D and 2-D). */
#ifndef EP_OP_CONVINTEGER_H
#define EP_OP_CONVINTEGER_H

#include "ep_tensor.h"
#include "ep_window.h"

/* y = sum (x - x_zp) * (w - w_zp[m]) for each output channel m, saturated to int32. The zero
 * points are tensors of their data's type (NULL: 0; computed at run time or constant): x_zp one
 * element, w_zp 1 or M. EP_ERR_ARG for bad geometry (as ep_conv); EP_ERR_DTYPE / EP_ERR_SHAPE when
 * the descriptors disagree. */
int ep_convinteger(const ep_tensor *x, const ep_tensor *x_zp, const ep_tensor *w, const ep_tensor *w_zp,
                   ep_tensor *y, const ep_conv_params *p);

#endif
