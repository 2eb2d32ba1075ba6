/* floor.c: default ONNX Floor kernel. */
#include "floor.h"
#include "ep_unary.h"

int ep_floor(const ep_tensor *x, ep_tensor *y)
{
    EP_UNARY_BODY(floorf(v))
}
