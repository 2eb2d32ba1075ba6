/* hardsigmoid.c: default ONNX HardSigmoid kernel. */
#include "hardsigmoid.h"
#include "ep_unary.h"

int ep_hardsigmoid(const ep_tensor *x, ep_tensor *y, float alpha, float beta)
{
    EP_UNARY_BODY(alpha * v + beta < 0.0f ? 0.0f : (alpha * v + beta > 1.0f ? 1.0f : alpha * v + beta))
}
