/* hardsigmoid.h: ONNX HardSigmoid (float32). */
#ifndef EP_OP_HARDSIGMOID_H
#define EP_OP_HARDSIGMOID_H

#include "ep_tensor.h"

/* y = max(0, min(1, alpha * x + beta)); NaN stays NaN. */
int ep_hardsigmoid(const ep_tensor *x, ep_tensor *y, float alpha, float beta);

#endif
