/* qlinearmatmul.c: default ONNX QLinearMatMul kernel (ep_qmatmul_run, fixed-point requantization). */
#include "qlinearmatmul.h"
#include "ep_quant.h"

int ep_qlinearmatmul(const ep_tensor *a, int64_t a_zp, const ep_tensor *b, const int64_t *b_zp, int64_t n_b,
                     ep_tensor *y, int64_t y_zp, const int64_t *mult, const int64_t *shift, int64_t n_q)
{
    int64_t ncol;
    ep_qout q;
    int rc = ep_check_q8(a);
    if (rc == EP_OK) {
        rc = ep_check_q8(b);
    }
    if (rc == EP_OK) {
        rc = ep_check_q8(y);
    }
    if (rc == EP_OK) {
        rc = ep_qmatmul_check(a, b, y);
    }
    if (rc != EP_OK) {
        return rc;
    }
    ncol = b->dims[1];
    rc = ep_qout_requant(&q, a, a_zp, b, b_zp, n_b, y, y_zp, mult, shift, n_q, NULL, ncol);
    if (rc != EP_OK) {
        return rc;
    }
    ep_qmatmul_run(a, (int32_t)a_zp, b, y, &q);
    return EP_OK;
}
