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

/* The activations ep_conv_act applies to the Conv's output (alpha and beta as noted; unused: 0). */
#define EP_CONV_ACT_NONE 0
#define EP_CONV_ACT_RELU 1
#define EP_CONV_ACT_CLIP 2         /* alpha = min, beta = max */
#define EP_CONV_ACT_LEAKY_RELU 3   /* alpha */
#define EP_CONV_ACT_HARD_SIGMOID 4 /* alpha, beta */
#define EP_CONV_ACT_HARD_SWISH 5
#define EP_CONV_ACT_SIGMOID 6
#define EP_CONV_ACT_SWISH 7            /* x * Sigmoid(alpha * x), as swish.c: Swish, QuickGelu */
#define EP_CONV_ACT_MUL_HARD_SIGMOID 8 /* x * HardSigmoid(x; alpha, beta), as Mul after hardsigmoid.c */
#define EP_CONV_ACT_MUL_SIGMOID 9      /* x * Sigmoid(x), as Mul after sigmoid.c */

/* y = act(conv(x, w) + b): ep_conv followed by the activation `act` (EP_CONV_ACT_*), applied to
 * each block of outputs while it is in cache; the results are bitwise those of ep_conv followed by
 * the activation's own kernel (relu.c, clip.c, ...). EP_ERR_ARG for an unknown `act`, else as ep_conv. */
int ep_conv_act(const ep_tensor *x, const ep_tensor *w, const ep_tensor *b, ep_tensor *y,
                const ep_conv_params *p, float *scratch, int32_t act, float alpha, float beta);

/* y = act(conv(x, w) + b) + r: ep_conv_act, then the residual r (float32, y's shape, not overlapping y)
 * added to each block of outputs while it is in cache; bitwise ep_conv_act followed by add.c.
 * EP_ERR_ARG for a NULL r, EP_ERR_SHAPE or EP_ERR_DTYPE when r is not a float32 tensor of y's shape,
 * else as ep_conv_act. */
int ep_conv_act_add(const ep_tensor *x, const ep_tensor *w, const ep_tensor *b, ep_tensor *y,
                    const ep_conv_params *p, float *scratch, int32_t act, float alpha, float beta, const ep_tensor *r);

#endif
