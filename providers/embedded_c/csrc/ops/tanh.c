/* tanh.c: default ONNX Tanh kernel. */
#include "tanh.h"
#include "ep_tanh.h"
#include "ep_unary.h"

int ep_tanh(const ep_tensor *x, ep_tensor *y)
{
    EP_UNARY_BODY(ep_tanhf(v))
}
