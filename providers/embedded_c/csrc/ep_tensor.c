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

int ep_check(const ep_tensor *t)
{
    return ep_check_dtype(t, EP_FLOAT32);
}

int ep_check_dtype(const ep_tensor *t, int32_t dtype)
{
    int32_t i;
    if (t == NULL) {
        return EP_ERR_ARG;
    }
    if (t->dtype != dtype) {
        return EP_ERR_DTYPE;
    }
    if (t->rank < 0 || t->rank > EP_MAX_RANK) {
        return EP_ERR_SHAPE;
    }
    for (i = 0; i < t->rank; ++i) {
        if (t->dims[i] < 0) {
            return EP_ERR_SHAPE;
        }
    }
    if (!ep_is_contiguous(t) || (t->data == NULL && ep_numel(t) > 0)) {
        return EP_ERR_SHAPE;
    }
    return EP_OK;
}

int ep_same_shape(const ep_tensor *a, const ep_tensor *b)
{
    int32_t i;
    if (a->rank != b->rank) {
        return 0;
    }
    for (i = 0; i < a->rank; ++i) {
        if (a->dims[i] != b->dims[i]) {
            return 0;
        }
    }
    return 1;
}

int ep_check_same(const ep_tensor *x, const ep_tensor *y)
{
    int rc = ep_check(x);
    if (rc == EP_OK) {
        rc = ep_check(y);
    }
    if (rc == EP_OK && !ep_same_shape(x, y)) {
        rc = EP_ERR_SHAPE;
    }
    return rc;
}

size_t ep_dtype_size(int32_t dtype)
{
    switch (dtype) {
    case EP_FLOAT32:
    case EP_INT32:
        return 4;
    case EP_UINT8:
    case EP_INT8:
    case EP_BOOL:
        return 1;
    case EP_INT64:
        return 8;
    default:
        return 0;
    }
}

int ep_axis_extents(const ep_tensor *t, int32_t axis, int32_t flatten, int64_t *outer, int64_t *len, int64_t *inner)
{
    int32_t d;
    if (axis < 0 || (axis >= t->rank && t->rank > 0) || (flatten != 0 && flatten != 1)) {
        return EP_ERR_ARG;
    }
    *outer = *len = *inner = 1;
    for (d = 0; d < t->rank; ++d) {
        if (d < axis) {
            *outer *= t->dims[d];
        } else if (d == axis || flatten) {
            *len *= t->dims[d];
        } else {
            *inner *= t->dims[d];
        }
    }
    return EP_OK;
}

int ep_if_cond(const ep_tensor *cond, int *taken)
{
    int rc = taken == NULL ? EP_ERR_ARG : ep_check_dtype(cond, EP_BOOL);
    if (rc != EP_OK) {
        return rc;
    }
    if (ep_numel(cond) != 1) {
        return EP_ERR_SHAPE;
    }
    *taken = ((const unsigned char *)cond->data)[0] != 0;
    return EP_OK;
}
