/* lrn.h: ONNX LRN, local response normalisation across channels (float32). */
#ifndef EP_OP_LRN_H
#define EP_OP_LRN_H

#include "ep_tensor.h"

/* y = x / (bias + alpha / size * sum of x^2 over channels [c - (size-1)/2, c + ceil((size-1)/2)])^beta. */
int ep_lrn(const ep_tensor *x, ep_tensor *y, int64_t size, float alpha, float beta, float bias);

#endif
