/* neg.c: default ONNX Neg kernel. */
#include "neg.h"
#include "ep_unary.h"

int ep_neg(const ep_tensor *x, ep_tensor *y)
{
    EP_UNARY_BODY(-v)
}
