/* globalaveragepool.h: ONNX GlobalAveragePool (float32, any spatial rank). */
#ifndef EP_OP_GLOBALAVERAGEPOOL_H
#define EP_OP_GLOBALAVERAGEPOOL_H

#include "ep_tensor.h"

/* y[n, c, 1, ...] = mean of x[n, c, ...]. */
int ep_globalaveragepool(const ep_tensor *x, ep_tensor *y);

#endif
