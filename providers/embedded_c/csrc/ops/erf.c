/* erf.c: default ONNX Erf kernel. */
#include "erf.h"
#include "ep_unary.h"

int ep_erf(const ep_tensor *x, ep_tensor *y)
{
    EP_UNARY_BODY(erff(v))
}
