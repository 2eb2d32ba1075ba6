/* div.c: default ONNX Div kernel. */
#include "div.h"
#include "ep_binary.h"

int ep_div(const ep_tensor *a, const ep_tensor *b, ep_tensor *y)
{
    EP_BINARY_BODY(x0 / x1)
}
