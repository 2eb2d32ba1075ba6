/* logsoftmax.c: default ONNX LogSoftmax kernel (max-subtracted, double accumulation; ep_rows.c's row driver). */
#include "logsoftmax.h"
#include "ep_rows.h"

int ep_logsoftmax(const ep_tensor *x, ep_tensor *y, int32_t axis, int32_t flatten)
{
    return ep_softmax_rows(x, y, axis, flatten, 1);
}
