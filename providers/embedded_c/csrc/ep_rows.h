/* ep_rows.h: row-wise drivers shared by operators that move or reduce whole rows: the row odometer
 * of Pad and Slice, the pieces along an axis of Concat and Split, and the rows of Softmax and
 * LogSoftmax. */
#ifndef EP_ROWS_H
#define EP_ROWS_H

#include "ep_tensor.h"

/* ep_check of x and y (float32, contiguous), then EP_ERR_SHAPE unless they have the same rank. */
int ep_check_same_rank(const ep_tensor *x, const ep_tensor *y);

/* The number of rows of y (its elements over its last dim) an odometer over y walks, with `idx` (one index
 * per axis) zeroed; 0 when there is nothing to walk: y is empty, or a scalar (then x's element is copied). */
int64_t ep_rows_start(const ep_tensor *x, ep_tensor *y, int64_t *idx);

/* Advances `idx` (one index per axis of `t` but the last) to the next row of `t`, row-major. */
void ep_next_row(int64_t *idx, const ep_tensor *t);

/* Copies between `whole` and its `n` pieces along `axis`: the pieces into `whole` (Concat) or, with
 * `split`, `whole` into the pieces (Split). EP_OK once every descriptor checks (float32) and every piece
 * matches `whole` off the axis with their lengths along it adding up to whole's (else EP_ERR_SHAPE);
 * EP_ERR_ARG for a NULL array, n < 1 or an axis out of range. Nothing is written unless all agree. */
int ep_axis_pieces(const ep_tensor *whole, const ep_tensor *const *pieces, int32_t n, int32_t axis, int split);

/* Softmax (`logarithm` 0) or LogSoftmax (`logarithm` 1) of x into y along `axis` (with `flatten`, every axis from `axis`
 * on, as before opset 13): max-subtracted, sums in double. */
int ep_softmax_rows(const ep_tensor *x, ep_tensor *y, int32_t axis, int32_t flatten, int logarithm);

#endif /* EP_ROWS_H */
