/* clip.c: default ONNX Clip kernel. */
#include "clip.h"
#include "ep_unary.h"

int ep_clip(const ep_tensor *x, ep_tensor *y, float lo, float hi)
{
    EP_UNARY_BODY(v < lo ? lo : (v > hi ? hi : v))
}
