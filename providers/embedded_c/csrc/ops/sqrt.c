/* sqrt.c: default ONNX Sqrt kernel. */
#include "sqrt.h"
#include "ep_unary.h"

int ep_sqrt(const ep_tensor *x, ep_tensor *y)
{
    EP_UNARY_BODY(sqrtf(v))
}
