/* transpose.h: ONNX Transpose (any element type the library knows: 1, 4 or 8 bytes). */
#ifndef EP_OP_TRANSPOSE_H
#define EP_OP_TRANSPOSE_H

#include "ep_tensor.h"

/* y axis i = x axis perm[i]; perm holds one entry per axis and is a permutation (EP_ERR_ARG otherwise). */
int ep_transpose(const ep_tensor *x, ep_tensor *y, const int64_t *perm);

#endif
