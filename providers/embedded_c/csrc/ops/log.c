/* log.c: default ONNX Log kernel. */
#include "log.h"
#include "ep_unary.h"

int ep_log(const ep_tensor *x, ep_tensor *y)
{
    EP_UNARY_BODY(logf(v))
}
