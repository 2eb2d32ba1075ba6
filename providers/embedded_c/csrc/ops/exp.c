/* exp.c: default ONNX Exp kernel. */
#include "exp.h"
#include "ep_unary.h"

int ep_exp(const ep_tensor *x, ep_tensor *y)
{
    EP_UNARY_BODY(expf(v))
}
