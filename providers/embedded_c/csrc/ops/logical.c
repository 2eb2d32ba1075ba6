/* logical.c: default ONNX And, Or and Xor kernel. */
#include "logical.h"
#include "ep_binary.h"

int ep_logical(const ep_tensor *a, const ep_tensor *b, ep_tensor *y, int32_t op)
{
    int64_t sa[EP_MAX_RANK];
    int64_t sb[EP_MAX_RANK];
    int rc = ep_check_dtype(a, EP_BOOL);
    if (rc == EP_OK) {
        rc = ep_check_dtype(b, EP_BOOL);
    }
    if (rc == EP_OK) {
        rc = ep_check_dtype(y, EP_BOOL);
    }
    if (rc == EP_OK && (op < EP_LOGICAL_AND || op > EP_LOGICAL_XOR)) {
        rc = EP_ERR_ARG;
    }
    if (rc == EP_OK) {
        rc = ep_broadcast_pair(a, b, y, sa, sb);
    }
    if (rc != EP_OK) {
        return rc;
    }
    if (op == EP_LOGICAL_AND) {
        EP_BROADCAST_LOOP(unsigned char, unsigned char, x0 != 0 && x1 != 0);
    } else if (op == EP_LOGICAL_OR) {
        EP_BROADCAST_LOOP(unsigned char, unsigned char, x0 != 0 || x1 != 0);
    } else {
        EP_BROADCAST_LOOP(unsigned char, unsigned char, (x0 != 0) != (x1 != 0));
    }
    return EP_OK;
}
