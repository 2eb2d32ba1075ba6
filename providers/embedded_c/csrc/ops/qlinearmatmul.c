/* qlinearmatmul.c: default ONNX QLinearMatMul kernel (int64 accumulation, fixed-point requantization). */
#include "qlinearmatmul.h"
#include "ep_quant.h"

int ep_qlinearmatmul(const ep_tensor *a, int64_t a_zp, const ep_tensor *b, const int64_t *b_zp, int64_t n_b,
                     ep_tensor *y, int64_t y_zp, const int64_t *mult, const int64_t *shift, int64_t n_q)
{
    int64_t rows, kdim, ncol, r, c, k;
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
    kdim = b->dims[0];
    ncol = b->dims[1];
    if (!ep_qparams_ok(b_zp, n_b, ncol) || !ep_qparams_ok(mult, n_q, ncol) || shift == NULL ||
        !ep_zero_point_ok(a, a_zp) || !ep_zero_point_ok(y, y_zp)) {
        return EP_ERR_ARG;
    }
    for (k = 0; k < n_b; ++k) {
        if (!ep_zero_point_ok(b, b_zp[k])) {
            return EP_ERR_ARG;
        }
    }
    for (k = 0; k < n_q; ++k) {
        if (!ep_requant_ok(mult[k], shift[k])) {
            return EP_ERR_ARG;
        }
    }
    rows = kdim ? ep_numel(a) / kdim : ep_numel(y) / (ncol ? ncol : 1);
    for (r = 0; r < rows; ++r) {
        for (c = 0; c < ncol; ++c) {
            int64_t zb = b_zp[n_b > 1 ? c : 0];
            int64_t cq = n_q > 1 ? c : 0;
            int64_t acc = 0;
            for (k = 0; k < kdim; ++k) {
                acc += (int64_t)(ep_q_load(a, r * kdim + k) - a_zp) * (ep_q_load(b, k * ncol + c) - zb);
            }
            ep_q_store(y, r * ncol + c, (int64_t)ep_requantize(acc, (int32_t)mult[cq], (int32_t)shift[cq]) + y_zp);
        }
    }
    return EP_OK;
}
