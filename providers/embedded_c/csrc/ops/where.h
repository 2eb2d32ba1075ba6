/* where.h: ONNX Where (a bool condition; x, y and the output of any one element type of ep_tensor.h). */
#ifndef EP_OP_WHERE_H
#define EP_OP_WHERE_H

#include "ep_tensor.h"

/* out = cond ? x : y elementwise, the three inputs broadcast (numpy's rules) to out's shape, which must be
 * exactly their broadcast. EP_ERR_DTYPE unless cond is bool and x, y and out share an element type;
 * EP_ERR_SHAPE when out is not the broadcast. */
int ep_where(const ep_tensor *cond, const ep_tensor *x, const ep_tensor *y, ep_tensor *out);

#endif
