/* softmax.c: default ONNX Softmax kernel (max-subtracted, double accumulation; ep_rows.c's row driver). */
#include "softmax.h"
#include "ep_rows.h"

int ep_softmax(const ep_tensor *x, ep_tensor *y, int32_t axis, int32_t flatten)
{
    return ep_softmax_rows(x, y, axis, flatten, 0);
}
