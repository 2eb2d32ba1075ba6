/* ceil.c: default ONNX Ceil kernel. */
#include "ceil.h"
#include "ep_unary.h"

int ep_ceil(const ep_tensor *x, ep_tensor *y)
{
    EP_UNARY_BODY(ceilf(v))
}
