/* matmulinteger.c: default ONNX MatMulInteger kernel (ep_qmatmul_run: int32 runs folded into int64). */
#include "matmulinteger.h"
#include "ep_quant.h"

int ep_matmulinteger(const ep_tensor *a, const ep_tensor *a_zp, const ep_tensor *b, const ep_tensor *b_zp,
                     ep_tensor *y)
{
    int64_t n_a, n_b;
    ep_qout q = {NULL, NULL, 0, NULL, NULL, 0, 0, NULL};
    int rc = ep_check_q8(a);
    if (rc == EP_OK) {
        rc = ep_check_q8(b);
    }
    if (rc == EP_OK) {
        rc = ep_check_dtype(y, EP_INT32);
    }
    if (rc == EP_OK) {
        rc = ep_qmatmul_check(a, b, y);
    }
    if (rc != EP_OK) {
        return rc;
    }
    rc = ep_check_zero_points(a_zp, a, 1, &n_a);
    if (rc == EP_OK) {
        rc = ep_check_zero_points(b_zp, b, b->dims[1], &n_b);
    }
    if (rc != EP_OK) {
        return rc;
    }
    q.zp_t = b_zp;
    q.n_zp = n_b;
    ep_qmatmul_run(a, ep_zero_point_at(a_zp, n_a, 0), b, y, &q);
    return EP_OK;
}
