/* clip.h: ONNX Clip (float32). */
#ifndef EP_OP_CLIP_H
#define EP_OP_CLIP_H

#include "ep_tensor.h"

/* y = min(max(x, lo), hi); NaN passes through. */
int ep_clip(const ep_tensor *x, ep_tensor *y, float lo, float hi);

#endif
