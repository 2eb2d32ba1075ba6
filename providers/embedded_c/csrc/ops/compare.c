/* compare.c: default ONNX Equal, Less, LessOrEqual, Greater and GreaterOrEqual kernel. */
#include "compare.h"
#include "ep_binary.h"

#define EP_COMPARE_AS(T)                                                    \
    switch (op) {                                                           \
    case EP_CMP_EQUAL:                                                      \
        EP_BROADCAST_LOOP(T, unsigned char, x0 == x1);                      \
        break;                                                              \
    case EP_CMP_LESS:                                                       \
        EP_BROADCAST_LOOP(T, unsigned char, x0 < x1);                       \
        break;                                                              \
    case EP_CMP_LESS_EQUAL:                                                 \
        EP_BROADCAST_LOOP(T, unsigned char, x0 <= x1);                      \
        break;                                                              \
    case EP_CMP_GREATER:                                                    \
        EP_BROADCAST_LOOP(T, unsigned char, x0 > x1);                       \
        break;                                                              \
    default:                                                                \
        EP_BROADCAST_LOOP(T, unsigned char, x0 >= x1);                      \
        break;                                                              \
    }

int ep_compare(const ep_tensor *a, const ep_tensor *b, ep_tensor *y, int32_t op)
{
    int64_t sa[EP_MAX_RANK];
    int64_t sb[EP_MAX_RANK];
    int rc = a == NULL ? EP_ERR_ARG : ep_check_dtype(a, a->dtype);
    if (rc == EP_OK) {
        rc = ep_check_dtype(b, a->dtype);
    }
    if (rc == EP_OK) {
        rc = ep_check_dtype(y, EP_BOOL);
    }
    if (rc == EP_OK && (op < EP_CMP_EQUAL || op > EP_CMP_GREATER_EQUAL)) {
        rc = EP_ERR_ARG;
    }
    if (rc == EP_OK) {
        rc = ep_broadcast_pair(a, b, y, sa, sb);
    }
    if (rc != EP_OK) {
        return rc;
    }
    switch (a->dtype) {
    case EP_FLOAT32:
        EP_COMPARE_AS(float)
        break;
    case EP_UINT8:
        EP_COMPARE_AS(uint8_t)
        break;
    case EP_INT8:
        EP_COMPARE_AS(int8_t)
        break;
    case EP_INT32:
        EP_COMPARE_AS(int32_t)
        break;
    case EP_INT64:
        EP_COMPARE_AS(int64_t)
        break;
    case EP_BOOL:
        if (op != EP_CMP_EQUAL) {
            return EP_ERR_DTYPE;
        }
        EP_BROADCAST_LOOP(unsigned char, unsigned char, (x0 != 0) == (x1 != 0));
        break;
    default:
        return EP_ERR_DTYPE;
    }
    return EP_OK;
}
