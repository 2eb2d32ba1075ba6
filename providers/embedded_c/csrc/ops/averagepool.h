/* averagepool.h: ONNX AveragePool (float32, 1-D and 2-D, strides, explicit pads, dilations; y's dims fix ceil_mode). */
#ifndef EP_OP_AVERAGEPOOL_H
#define EP_OP_AVERAGEPOOL_H

#include "ep_pool.h"

/* y's N and C must be x's; geometry errors as ep_window_check (ep_window.h), before any memory is touched. */
int ep_averagepool(const ep_tensor *x, ep_tensor *y, const ep_pool_params *p);

#endif
