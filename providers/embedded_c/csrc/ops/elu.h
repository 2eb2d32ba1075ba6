/* elu.h: ONNX Elu (float32). */
#ifndef EP_OP_ELU_H
#define EP_OP_ELU_H

#include "ep_tensor.h"

/* y = x for x >= 0, alpha * (exp(x) - 1) otherwise. */
int ep_elu(const ep_tensor *x, ep_tensor *y, float alpha);

#endif
