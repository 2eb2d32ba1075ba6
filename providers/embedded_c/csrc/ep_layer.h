/* ep_layer.h: what the layer operators share: the operand checks of Conv, ConvTranspose and Gemm,
 * the window geometry and the loop of MaxPool and AveragePool. */
#ifndef EP_LAYER_H
#define EP_LAYER_H

#include "ep_pool.h"
#include "ep_tensor.h"

/* ep_check of a, b and y, then of `optional` unless it is NULL (a bias, Gemm's C): EP_OK, or the
 * first failure's code. */
int ep_check_operands(const ep_tensor *a, const ep_tensor *b, const ep_tensor *y, const ep_tensor *optional);

/* The extents a pool walks: planes (N * C), input ih x iw, output oh x ow (1-D: ih = oh = 1). */
typedef struct ep_pool_extents {
    int64_t planes, ih, iw, oh, ow;
} ep_pool_extents;

/* The checks MaxPool and AveragePool share: x and y usable float32 descriptors, `p` and `e` not
 * NULL (EP_ERR_ARG), the window geometry of ep_window_check (ceil_mode sizes accepted) and as many
 * channels in y as in x (EP_ERR_SHAPE); on EP_OK, *e holds the extents. */
int ep_pool_check(const ep_tensor *x, const ep_tensor *y, const ep_pool_params *p, ep_pool_extents *e);

/* [*first, *end): the taps t of a window of `taps` taps, `step` apart, starting at index `start`,
 * whose index start + t * step lies in 0..n-1 (an empty range when none does). The pools walk
 * only these, with no test per tap. */
void ep_window_taps(int64_t start, int64_t taps, int64_t step, int64_t n, int64_t *first, int64_t *end);

#define EP_POOL_MAX 0
#define EP_POOL_AVERAGE 1

/* y = the max (EP_POOL_MAX: NaN wins, padding never does) or average (EP_POOL_AVERAGE: over the
 * taps inside x, or with p->count_include_pad over those inside the padded x) of each window of x.
 * Checks as ep_pool_check before touching memory; EP_ERR_ARG for another mode. */
int ep_pool(const ep_tensor *x, ep_tensor *y, const ep_pool_params *p, int mode);

#endif /* EP_LAYER_H */
