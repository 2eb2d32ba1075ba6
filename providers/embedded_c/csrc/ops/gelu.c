/* gelu.c: default ONNX Gelu kernel. */
#include "gelu.h"
#include "ep_unary.h"

int ep_gelu(const ep_tensor *x, ep_tensor *y, int32_t approximate)
{
    if (approximate != 0 && approximate != 1) {
        return EP_ERR_ARG;
    }
    EP_UNARY_BODY(approximate ? 0.5f * v * (1.0f + tanhf(0.7978845608028654f * (v + 0.044715f * v * v * v)))
                                : 0.5f * v * (1.0f + erff(v * 0.7071067811865476f)))
}
