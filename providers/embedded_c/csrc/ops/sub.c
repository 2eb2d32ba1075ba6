/* sub.c: default ONNX Sub kernel. */
#include "sub.h"
#include "ep_binary.h"

int ep_sub(const ep_tensor *a, const ep_tensor *b, ep_tensor *y)
{
    EP_BINARY_BODY(x0 - x1)
}
