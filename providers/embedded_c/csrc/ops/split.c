/* split.c: default ONNX Split kernel (the inverse of Concat's copies; ep_rows.c). */
#include "split.h"
#include "ep_rows.h"

int ep_split(const ep_tensor *x, int32_t axis, const ep_tensor *const *ys, int32_t n)
{
    return ep_axis_pieces(x, ys, n, axis, 1);
}
