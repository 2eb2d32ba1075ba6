/* matmulinteger.c: default ONNX MatMulInteger kernel (ep_qmatmul_run: int32 runs folded into int64). */
#include "matmulinteger.h"
#include "ep_qgemm.h"
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

/* checks of ep_matmulinteger_packed and ep_matmulinteger_packed_f (y of element type y_dtype); *za a's zero
 * point, q b's zero points */
static int packed_check(const ep_tensor *a, const ep_tensor *a_zp, const ep_tensor *bt, const ep_tensor *bsum,
                        const ep_tensor *b_zp, const ep_tensor *y, int32_t y_dtype, int32_t b_dtype, int32_t *za,
                        ep_qout *q)
{
    int64_t n_a, n_b, kdim, ncol;
    int32_t d;
    ep_tensor b_like; /* b's type, for its zero points */
    int rc = ep_check_q8(a);
    if (rc == EP_OK) {
        rc = ep_check_dtype(bt, EP_INT8);
    }
    if (rc == EP_OK) {
        rc = ep_check_dtype(bsum, EP_INT32);
    }
    if (rc == EP_OK) {
        rc = ep_check_dtype(y, y_dtype);
    }
    if (rc != EP_OK) {
        return rc;
    }
    if (b_dtype != EP_UINT8 && b_dtype != EP_INT8) {
        return EP_ERR_ARG;
    }
    if (a->rank < 2 || y->rank != a->rank || bt->rank != 2 || bsum->rank != 1) {
        return EP_ERR_SHAPE;
    }
    kdim = a->dims[a->rank - 1];
    ncol = y->dims[y->rank - 1];
    for (d = 0; d < a->rank - 1; ++d) {
        if (y->dims[d] != a->dims[d]) {
            return EP_ERR_SHAPE;
        }
    }
    if (bt->dims[1] != kdim || bt->dims[0] != (ncol + EP_QP_NR - 1) / EP_QP_NR * EP_QP_NR || bsum->dims[0] != ncol) {
        return EP_ERR_SHAPE;
    }
    if (ep_qmatmul_packed_rows(kdim, a->dtype != EP_UINT8) < 1) {
        return EP_ERR_ARG;
    }
    b_like = *bt;
    b_like.dtype = b_dtype;
    rc = ep_check_zero_points(a_zp, a, 1, &n_a);
    if (rc == EP_OK) {
        rc = ep_check_zero_points(b_zp, &b_like, ncol, &n_b);
    }
    q->zp_t = b_zp;
    q->n_zp = n_b;
    *za = rc == EP_OK ? ep_zero_point_at(a_zp, n_a, 0) : 0;
    return rc;
}

int ep_matmulinteger_packed(const ep_tensor *a, const ep_tensor *a_zp, const ep_tensor *bt, const ep_tensor *bsum,
                            const ep_tensor *b_zp, ep_tensor *y, int32_t b_dtype)
{
    int32_t za;
    ep_qout q = {NULL, NULL, 0, NULL, NULL, 0, 0, NULL};
    int rc = packed_check(a, a_zp, bt, bsum, b_zp, y, EP_INT32, b_dtype, &za, &q);
    if (rc != EP_OK) {
        return rc;
    }
    ep_qmatmul_packed_run(a, za, (const int8_t *)bt->data, (const int32_t *)bsum->data,
                          b_dtype == EP_UINT8 ? 128 : 0, y, &q);
    return EP_OK;
}

int ep_matmulinteger_packed_f(const ep_tensor *a, const ep_tensor *a_zp, const ep_tensor *bt, const ep_tensor *bsum,
                              const ep_tensor *b_zp, const ep_tensor *bias, const ep_tensor *scale, ep_tensor *y,
                              int32_t b_dtype, int32_t act, float alpha)
{
    int32_t za;
    ep_qout q = {NULL, NULL, 0, NULL, NULL, 0, 0, NULL};
    ep_qf_epilogue f;
    int rc = packed_check(a, a_zp, bt, bsum, b_zp, y, EP_FLOAT32, b_dtype, &za, &q);
    if (rc == EP_OK) {
        rc = ep_check_qf_epilogue(bias, scale, y->dims[y->rank - 1], act, alpha, &f);
    }
    if (rc != EP_OK) {
        return rc;
    }
    ep_qmatmul_packed_run_f(a, za, (const int8_t *)bt->data, (const int32_t *)bsum->data,
                            b_dtype == EP_UINT8 ? 128 : 0, y, &q, &f);
    return EP_OK;
}
