/* identity.h: ONNX Identity (float32, int32, uint8, int8). */
#ifndef EP_OP_IDENTITY_H
#define EP_OP_IDENTITY_H

#include "ep_tensor.h"

/* y = x: Identity, Dropout (inference), Reshape, Flatten, Squeeze, Unsqueeze copy their data. */
int ep_identity(const ep_tensor *x, ep_tensor *y);

#endif
