/* conv.h: ONNX Conv (float32, 1-D and 2-D, groups, strides, explicit pads, dilations). */
#ifndef EP_OP_CONV_H
#define EP_OP_CONV_H

#include "ep_tensor.h"
#include "ep_window.h" /* ep_conv_params */

/* Floats of scratch memory ep_conv needs for these shapes (0: none). */
int64_t ep_conv_scratch_size(const ep_tensor *x, const ep_tensor *w, const ep_tensor *y, const ep_conv_params *p);

/* y = conv(x, w) + b. x: N x C x [H x] W; w: M x C/group x [kh x] kw; b: M or NULL.
 * `scratch` holds ep_conv_scratch_size() floats (may be NULL when that is 0).
 * Checks before touching memory: EP_ERR_ARG for a kernel size, stride or dilation below 1, a
 * negative pad, a group outside 1..C or a missing scratch; EP_ERR_SHAPE when x, w, b and y do not
 * agree with each other and with the parameters (y's extents must be the ones they imply). */
int ep_conv(const ep_tensor *x, const ep_tensor *w, const ep_tensor *b, ep_tensor *y,
            const ep_conv_params *p, float *scratch);

#endif
