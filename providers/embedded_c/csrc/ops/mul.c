/* mul.c: default ONNX Mul kernel. */
#include "mul.h"
#include "ep_binary.h"

int ep_mul(const ep_tensor *a, const ep_tensor *b, ep_tensor *y)
{
    EP_BINARY_BODY(x0 * x1)
}
