/* elu.c: default ONNX Elu kernel. */
#include "elu.h"
#include "ep_unary.h"

int ep_elu(const ep_tensor *x, ep_tensor *y, float alpha)
{
    EP_UNARY_BODY(v < 0.0f ? alpha * (expf(v) - 1.0f) : v)
}
