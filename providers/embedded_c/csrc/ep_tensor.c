/* ep_tensor.c: helpers over the tensor descriptor. */
#include "ep_tensor.h"

ep_tensor ep_make_tensor(void *data, int32_t dtype, int32_t rank, const int64_t *dims)
{
    ep_tensor t;
    int32_t i;
    int64_t s = 1;
    t.data = data;
    t.dtype = dtype;
    t.rank = rank;
    for (i = 0; i < EP_MAX_RANK; ++i) {
        t.dims[i] = 1;
        t.strides[i] = 1;
    }
    for (i = rank - 1; i >= 0; --i) {
        t.dims[i] = dims[i];
        t.strides[i] = s;
        s *= dims[i];
    }
    return t;
}

int64_t ep_numel(const ep_tensor *t)
{
    int64_t n = 1;
    int32_t i;
    for (i = 0; i < t->rank; ++i) {
        n *= t->dims[i];
    }
    return n;
}

int ep_is_contiguous(const ep_tensor *t)
{
    int64_t s = 1;
    int32_t i;
    for (i = t->rank - 1; i >= 0; --i) {
        if (t->dims[i] != 1 && t->strides[i] != s) {
            return 0;
        }
        s *= t->dims[i];
    }
    return 1;
}
