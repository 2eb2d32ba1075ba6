/* maxpool.c: default ONNX MaxPool kernel: the window loop of ep_layer.c (padding never wins: only
 * the taps inside the input are read; NaN propagates). */
#include "ep_layer.h"
#include "maxpool.h"

int ep_maxpool(const ep_tensor *x, ep_tensor *y, const ep_pool_params *p)
{
    return ep_pool(x, y, p, EP_POOL_MAX);
}
