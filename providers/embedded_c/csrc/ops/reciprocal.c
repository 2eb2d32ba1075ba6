/* reciprocal.c: default ONNX Reciprocal kernel. */
#include "reciprocal.h"
#include "ep_unary.h"

int ep_reciprocal(const ep_tensor *x, ep_tensor *y)
{
    EP_UNARY_BODY(1.0f / v)
}
