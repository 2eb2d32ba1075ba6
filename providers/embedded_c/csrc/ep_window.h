/* ep_window.h: the checks of sliding-window geometry shared by Conv, MaxPool and AveragePool. */
#ifndef EP_WINDOW_H
#define EP_WINDOW_H

#include "ep_tensor.h"

/* The geometry of a Conv (float or quantized). */
typedef struct ep_conv_params {
    int64_t group;
    int64_t kernel[2];     /* kh, kw (kh = 1 for 1-D) */
    int64_t strides[2];
    int64_t pads[4];       /* top, left, bottom, right */
    int64_t dilations[2];
} ep_conv_params;

/* Largest kernel size, stride, pad or dilation accepted (keeps every index product in int64). */
#define EP_WINDOW_MAX 0x7fffffff

/* EP_OK when x (N x C x [H x] W) and y (same rank) fit a window of `kernel`, `strides`,
 * `pads` (top, left, bottom, right) and `dilations`, all given for two axes (the first one
 * trivial for 1-D: kernel, stride and dilation 1, no pads):
 *   - EP_ERR_ARG when a kernel size, stride or dilation is below 1, a pad is negative, or one
 *     exceeds EP_WINDOW_MAX;
 *   - EP_ERR_SHAPE when a rank is not 3 or 4, y's N differs from x's, or an output extent is
 *     not floor((in + pads - dilated kernel) / stride) + 1 (with `ceil_ok`, the ceil_mode
 *     size is accepted too).
 * Channels are the caller's to check (they differ between Conv and pooling). */
int ep_window_check(const ep_tensor *x, const ep_tensor *y, const int64_t *kernel, const int64_t *strides,
                    const int64_t *pads, const int64_t *dilations, int ceil_ok);

/* Spatial extents of a rank-3 (1-D) or rank-4 (2-D) tensor as (h, w). */
void ep_window_spatial(const ep_tensor *t, int64_t *h, int64_t *w);

#endif /* EP_WINDOW_H */
