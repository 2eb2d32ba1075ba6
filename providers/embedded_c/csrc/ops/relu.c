/* relu.c: default ONNX Relu kernel. */
#include "relu.h"
#include "ep_unary.h"

int ep_relu(const ep_tensor *x, ep_tensor *y)
{
    EP_UNARY_BODY(v < 0.0f ? 0.0f : v)
}
