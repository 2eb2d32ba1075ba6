/* sigmoid.c: default ONNX Sigmoid kernel. */
#include "sigmoid.h"
#include "ep_exp.h"
#include "ep_unary.h"

int ep_sigmoid(const ep_tensor *x, ep_tensor *y)
{
    EP_UNARY_BODY(v >= 0.0f ? 1.0f / (1.0f + ep_expf(-v)) : ep_expf(v) / (1.0f + ep_expf(v)))
}
