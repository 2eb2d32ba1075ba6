/* ep_pool.h: the window geometry shared by MaxPool and AveragePool. */
#ifndef EP_POOL_H
#define EP_POOL_H

#include "ep_tensor.h"

typedef struct ep_pool_params {
    int64_t kernel[2];     /* kh, kw (kh = 1 for 1-D) */
    int64_t strides[2];
    int64_t pads[4];       /* top, left, bottom, right */
    int64_t dilations[2];
    int32_t count_include_pad; /* AveragePool: count explicit pads in the divisor */
} ep_pool_params;

#endif /* EP_POOL_H */
