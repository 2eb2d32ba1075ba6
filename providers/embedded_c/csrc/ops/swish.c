/* swish.c: default ONNX Swish and com.microsoft QuickGelu kernel. */
#include "swish.h"
#include "ep_exp.h"
#include "ep_unary.h"

int ep_swish(const ep_tensor *x, ep_tensor *y, float alpha)
{
    EP_UNARY_BODY(v / (1.0f + ep_expf(-alpha * v)))
}
