/* erf.h: ONNX Erf (float32). */
#ifndef EP_OP_ERF_H
#define EP_OP_ERF_H

#include "ep_tensor.h"

/* y = erf(x). */
int ep_erf(const ep_tensor *x, ep_tensor *y);

#endif
