/* convinteger.c: default ONNX ConvInteger kernel (ep_qconv_run: direct loops, int32 runs folded into int64). */
#include "convinteger.h"
#include "ep_quant.h"

int ep_convinteger(const ep_tensor *x, const ep_tensor *x_zp, const ep_tensor *w, const ep_tensor *w_zp,
                   ep_tensor *y, const ep_conv_params *p)
{
    int64_t n_x, n_w;
    ep_qout q = {NULL, NULL, 0, NULL, NULL, 0, 0, NULL};
    int rc = ep_check_q8(x);
    if (rc == EP_OK) {
        rc = ep_check_q8(w);
    }
    if (rc == EP_OK) {
        rc = ep_check_dtype(y, EP_INT32);
    }
    if (rc == EP_OK) {
        rc = ep_qconv_check(x, w, y, p);
    }
    if (rc != EP_OK) {
        return rc;
    }
    rc = ep_check_zero_points(x_zp, x, 1, &n_x);
    if (rc == EP_OK) {
        rc = ep_check_zero_points(w_zp, w, w->dims[0], &n_w);
    }
    if (rc != EP_OK) {
        return rc;
    }
    q.zp_t = w_zp;
    q.n_zp = n_w;
    ep_qconv_run(x, ep_zero_point_at(x_zp, n_x, 0), w, y, p, &q);
    return EP_OK;
}
