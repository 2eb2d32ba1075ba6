/* pad.h: ONNX Pad (float32; constant, reflect, edge and wrap modes; negative pads crop). */
#ifndef EP_OP_PAD_H
#define EP_OP_PAD_H

#include "ep_tensor.h"

#define EP_PAD_CONSTANT 0
#define EP_PAD_REFLECT 1
#define EP_PAD_EDGE 2
#define EP_PAD_WRAP 3

/* y = x padded by `begin[d]` elements before axis d (x->rank values; negative crops), the end
 * pads being what y's dims leave. Outside x: `value` (constant), the mirror image without the
 * edge (reflect), the nearest edge element (edge) or the other end (wrap).
 * EP_ERR_ARG for an unknown mode, a NULL `begin`, or a pad outside +-2^40; EP_ERR_SHAPE when the
 * ranks differ, or a non-constant mode must read an empty axis of x or an axis of length 1 in
 * reflect mode. */
int ep_pad(const ep_tensor *x, ep_tensor *y, const int64_t *begin, int32_t mode, float value);

#endif
