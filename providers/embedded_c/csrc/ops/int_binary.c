/* int_binary.c: default ONNX Add, Sub and Mul kernel for int32 and int64 (bias additions of
 * quantize_dynamic's ConvInteger models, index arithmetic). */
#include "int_binary.h"
#include "ep_binary.h"

#define EP_INT_BINARY_AS(T, U)                                                    \
    switch (op) {                                                                 \
    case EP_INT_ADD:                                                              \
        EP_BROADCAST_LOOP(T, T, (T)((U)x0 + (U)x1));                              \
        break;                                                                    \
    case EP_INT_SUB:                                                              \
        EP_BROADCAST_LOOP(T, T, (T)((U)x0 - (U)x1));                              \
        break;                                                                    \
    default:                                                                      \
        EP_BROADCAST_LOOP(T, T, (T)((U)x0 * (U)x1));                              \
        break;                                                                    \
    }

int ep_int_binary(const ep_tensor *a, const ep_tensor *b, ep_tensor *y, int32_t op)
{
    int64_t sa[EP_MAX_RANK];
    int64_t sb[EP_MAX_RANK];
    int rc = a == NULL ? EP_ERR_ARG : EP_OK;
    if (rc == EP_OK && a->dtype != EP_INT32 && a->dtype != EP_INT64) {
        rc = EP_ERR_DTYPE;
    }
    if (rc == EP_OK) {
        rc = ep_check_dtype(a, a->dtype);
    }
    if (rc == EP_OK) {
        rc = ep_check_dtype(b, a->dtype);
    }
    if (rc == EP_OK) {
        rc = ep_check_dtype(y, a->dtype);
    }
    if (rc == EP_OK && (op < EP_INT_ADD || op > EP_INT_MUL)) {
        rc = EP_ERR_ARG;
    }
    if (rc == EP_OK) {
        rc = ep_broadcast_pair(a, b, y, sa, sb);
    }
    if (rc != EP_OK) {
        return rc;
    }
    if (a->dtype == EP_INT32) {
        EP_INT_BINARY_AS(int32_t, uint32_t)
    } else {
        EP_INT_BINARY_AS(int64_t, uint64_t)
    }
    return EP_OK;
}
