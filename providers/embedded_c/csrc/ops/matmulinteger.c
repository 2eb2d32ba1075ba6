/* matmulinteger.c: default ONNX MatMulInteger kernel (int64 accumulation). */
#include "matmulinteger.h"
#include "ep_quant.h"

int ep_matmulinteger(const ep_tensor *a, const ep_tensor *a_zp, const ep_tensor *b, const ep_tensor *b_zp,
                     ep_tensor *y)
{
    int64_t rows, kdim, ncol, r, c, k, n_a, n_b, za;
    int32_t *py;
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
    kdim = b->dims[0];
    ncol = b->dims[1];
    rc = ep_check_zero_points(a_zp, a, 1, &n_a);
    if (rc == EP_OK) {
        rc = ep_check_zero_points(b_zp, b, ncol, &n_b);
    }
    if (rc != EP_OK) {
        return rc;
    }
    za = ep_zero_point_at(a_zp, n_a, 0);
    py = (int32_t *)y->data;
    rows = kdim ? ep_numel(a) / kdim : ep_numel(y) / (ncol ? ncol : 1);
    for (r = 0; r < rows; ++r) {
        for (c = 0; c < ncol; ++c) {
            int64_t zb = ep_zero_point_at(b_zp, n_b, c);
            int64_t acc = 0;
            for (k = 0; k < kdim; ++k) {
                acc += (int64_t)(ep_q_load(a, r * kdim + k) - za) * (ep_q_load(b, k * ncol + c) - zb);
            }
            py[r * ncol + c] = (int32_t)(acc < INT32_MIN ? INT32_MIN : (acc > INT32_MAX ? INT32_MAX : acc));
        }
    }
    return EP_OK;
}
