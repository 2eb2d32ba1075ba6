/* softplus.c: default ONNX Softplus kernel. */
#include "softplus.h"
#include "ep_unary.h"

int ep_softplus(const ep_tensor *x, ep_tensor *y)
{
    EP_UNARY_BODY(v > 0.0f ? v + log1pf(expf(-v)) : log1pf(expf(v)))
}
