/* averagepool.c: default ONNX AveragePool kernel: the window loop of ep_layer.c. */
#include "averagepool.h"
#include "ep_layer.h"

int ep_averagepool(const ep_tensor *x, ep_tensor *y, const ep_pool_params *p)
{
    return ep_pool(x, y, p, EP_POOL_AVERAGE);
}
