/* affine.h: a scale and shift per channel or for the whole tensor (float32): a run of Mul and Add by
 * constants after one producer, merged into one pass (providers/embedded_c/affine.py). */
#ifndef EP_OP_AFFINE_H
#define EP_OP_AFFINE_H

#include "ep_tensor.h"

/* y = x * scale + shift elementwise, scale and shift each of one element or one per channel (axis 1 of
 * an x of rank >= 2); y has x's shape. EP_ERR_SHAPE for another element count or shape. */
int ep_affine(const ep_tensor *x, const ep_tensor *scale, const ep_tensor *shift, ep_tensor *y);

#endif
