/* convtranspose.h: ONNX ConvTranspose (float32, 1-D and 2-D, groups, strides, dilations, pads). */
#ifndef EP_OP_CONVTRANSPOSE_H
#define EP_OP_CONVTRANSPOSE_H

#include "ep_tensor.h"
#include "ep_window.h"

/* Floats of scratch memory ep_convtranspose needs: (M / group) * kh * kw * H * W. */
int64_t ep_convtranspose_scratch_size(const ep_tensor *x, const ep_tensor *w, const ep_conv_params *p);

/* y = conv_transpose(x, w) + b. x: N x C x [H x] W; w: C x M/group x [kh x] kw; b: M or NULL;
 * y: N x M x [OH x] OW, any extents (output_padding and output_shape make them): input pixel
 * (iy, ix) and tap (ki, kj) add into y at (iy * stride - pads[0] + ki * dilation, ...) when that
 * lies inside y. Only the begin pads (pads[0], pads[1]) are read; they may be negative.
 * EP_ERR_ARG for a kernel size, stride or dilation below 1, a pad beyond +-2^30, a group outside
 * 1..C or a missing scratch; EP_ERR_SHAPE when x, w, b and y disagree. */
int ep_convtranspose(const ep_tensor *x, const ep_tensor *w, const ep_tensor *b, ep_tensor *y,
                     const ep_conv_params *p, float *scratch);

#endif
