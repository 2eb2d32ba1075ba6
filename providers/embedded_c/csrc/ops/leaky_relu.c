/* leaky_relu.c: default ONNX LeakyRelu kernel. */
#include "leaky_relu.h"
#include "ep_unary.h"

int ep_leaky_relu(const ep_tensor *x, ep_tensor *y, float alpha)
{
    EP_UNARY_BODY(v < 0.0f ? v * alpha : v)
}
