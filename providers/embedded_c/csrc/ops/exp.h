/* exp.h: ONNX Exp (float32). */
#ifndef EP_OP_EXP_H
#define EP_OP_EXP_H

#include "ep_tensor.h"

/* y = exp(x). */
int ep_exp(const ep_tensor *x, ep_tensor *y);

#endif
