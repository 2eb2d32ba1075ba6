/* ep_depthwise.h: depthwise Conv (one input channel per group) by the faster of two paths.
 *
 * The lane path, for narrow maps (7 x 7, 14 x 14): EP_DW_LANES output channels at a time share one
 * zero-padded scratch plane in which the pixels of their input channels are interleaved (pixel (r, c)
 * of lane l at (r * wp + c) * EP_DW_LANES + l), so that every tap of every output pixel is one
 * unit-stride run of EP_DW_LANES floats, whatever the width, stride or dilation: where a plane at a time
 * has too few columns to fill a vector and pays its per-plane overheads hundreds of times, these maps
 * run as fast as wide ones. Output channel o reads input channel o / multiplier, so a channel
 * multiplier above 1 only repeats input channels among the lanes.
 * The row path, for wider maps with undilated 3x3 kernels at column stride 1 or 2 and 5x5 at 2: a channel
 * at a time from one zero-padded plane, each output row in one pass over the rows under it.
 * Other depthwise Convs (wide maps with other kernels) are conv.c's phase-plane loop. */
#ifndef EP_DEPTHWISE_H
#define EP_DEPTHWISE_H

#include "ep_tensor.h"
#include "ep_window.h" /* ep_conv_params */

/* Channels per block: the vector lanes (16 floats: one AVX-512 register, two AVX ones). */
#define EP_DW_LANES 16

/* Called once the raw sums of output rows have been written: the n floats at y (contiguous rows of
 * output channel `channel`, counted from the image's first) get the bias and activation in place. */
typedef void (*ep_depthwise_done)(void *ctx, float *y, int64_t n, int64_t channel);

/* Whether ep_depthwise runs a depthwise Conv of m output channels (per image) onto oh x ow outputs
 * (see ep_depthwise.c's choose_path; lowering.py follows the same rule). */
int ep_depthwise_ok(int64_t m, int64_t oh, int64_t ow, const ep_conv_params *p);

/* Floats of scratch ep_depthwise takes for it (0 where ep_depthwise_ok says no): the lane path's block
 * of interleaved padded rows, its transposed weights and an output row; the row path's padded plane. */
int64_t ep_depthwise_scratch_size(int64_t m, int64_t oh, int64_t ow, const ep_conv_params *p);

/* y (n x m x oh x ow) = the depthwise Conv of x (n x c x ih x iw) with kernel w (m x 1 x kh x kw),
 * m a multiple of c, no bias, where ep_depthwise_ok (else nothing is written); after each block of
 * output rows of each output channel, done(ctx, ...) on them. Geometry as checked by conv.c
 * (ep_window_check); scratch holds ep_depthwise_scratch_size() floats. */
void ep_depthwise(const float *x, const float *w, float *y, int64_t n, int64_t c, int64_t m, int64_t ih, int64_t iw,
                  int64_t oh, int64_t ow, const ep_conv_params *p, float *scratch, ep_depthwise_done done, void *ctx);

#endif /* EP_DEPTHWISE_H */
