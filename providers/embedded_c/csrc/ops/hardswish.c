/* hardswish.c: default ONNX HardSwish kernel. */
#include "hardswish.h"
#include "ep_unary.h"

int ep_hardswish(const ep_tensor *x, ep_tensor *y)
{
    EP_UNARY_BODY(v * (v / 6.0f + 0.5f < 0.0f ? 0.0f : (v / 6.0f + 0.5f > 1.0f ? 1.0f : v / 6.0f + 0.5f)))
}
