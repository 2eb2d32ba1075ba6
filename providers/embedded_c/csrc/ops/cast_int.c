/* cast_int.c: default ONNX Cast kernel to int32 and int64 (quantize_dynamic's bias quantization:
 * Floor(bias / scale) cast to int32). */
#include "cast_int.h"

/* 2^31 and 2^63 as floats (exact): a float below the upper bound and at or above the lower one
 * converts without overflow. */
#define EP_F32_2_31 2147483648.0f
#define EP_F32_2_63 9223372036854775808.0f

static int32_t f32_to_i32(float v)
{
    if (!(v == v)) {
        return 0;
    }
    if (v >= EP_F32_2_31) {
        return INT32_MAX;
    }
    if (v < -EP_F32_2_31) {
        return INT32_MIN;
    }
    return (int32_t)v;
}

static int64_t f32_to_i64(float v)
{
    if (!(v == v)) {
        return 0;
    }
    if (v >= EP_F32_2_63) {
        return INT64_MAX;
    }
    if (v < -EP_F32_2_63) {
        return INT64_MIN;
    }
    return (int64_t)v;
}

int ep_cast_int(const ep_tensor *x, ep_tensor *y)
{
    int64_t n, i;
    int rc = x == NULL || y == NULL ? EP_ERR_ARG : EP_OK;
    if (rc == EP_OK && x->dtype != EP_FLOAT32 && x->dtype != EP_INT32 && x->dtype != EP_INT64) {
        rc = EP_ERR_DTYPE;
    }
    if (rc == EP_OK && y->dtype != EP_INT32 && y->dtype != EP_INT64) {
        rc = EP_ERR_DTYPE;
    }
    if (rc == EP_OK) {
        rc = ep_check_dtype(x, x->dtype);
    }
    if (rc == EP_OK) {
        rc = ep_check_dtype(y, y->dtype);
    }
    if (rc != EP_OK) {
        return rc;
    }
    if (!ep_same_shape(x, y)) {
        return EP_ERR_SHAPE;
    }
    n = ep_numel(x);
    if (y->dtype == EP_INT32) {
        int32_t *py = (int32_t *)y->data;
        if (x->dtype == EP_FLOAT32) {
            const float *px = (const float *)x->data;
            for (i = 0; i < n; ++i) {
                py[i] = f32_to_i32(px[i]);
            }
        } else if (x->dtype == EP_INT32) {
            const int32_t *px = (const int32_t *)x->data;
            for (i = 0; i < n; ++i) {
                py[i] = px[i];
            }
        } else {
            const int64_t *px = (const int64_t *)x->data;
            for (i = 0; i < n; ++i) {
                py[i] = (int32_t)(uint32_t)((uint64_t)px[i] & 0xFFFFFFFFu);
            }
        }
        return EP_OK;
    }
    {
        int64_t *py = (int64_t *)y->data;
        if (x->dtype == EP_FLOAT32) {
            const float *px = (const float *)x->data;
            for (i = 0; i < n; ++i) {
                py[i] = f32_to_i64(px[i]);
            }
        } else if (x->dtype == EP_INT32) {
            const int32_t *px = (const int32_t *)x->data;
            for (i = 0; i < n; ++i) {
                py[i] = px[i];
            }
        } else {
            const int64_t *px = (const int64_t *)x->data;
            for (i = 0; i < n; ++i) {
                py[i] = px[i];
            }
        }
    }
    return EP_OK;
}
