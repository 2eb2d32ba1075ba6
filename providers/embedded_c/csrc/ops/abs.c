/* abs.c: default ONNX Abs kernel. */
#include "abs.h"
#include "ep_unary.h"

int ep_abs(const ep_tensor *x, ep_tensor *y)
{
    EP_UNARY_BODY(fabsf(v))
}
