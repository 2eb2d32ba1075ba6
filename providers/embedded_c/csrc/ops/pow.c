/* pow.c: default ONNX Pow kernel. */
#include <math.h>

#include "pow.h"
#include "ep_binary.h"

int ep_pow(const ep_tensor *a, const ep_tensor *b, ep_tensor *y)
{
    EP_BINARY_BODY(powf(x0, x1))
}
