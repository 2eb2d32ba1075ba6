/* qlinearconv.c: default ONNX QLinearConv kernel (ep_qconv_run: direct loops, int32 runs folded into
 * int64, fixed-point requantization). */
#include "qlinearconv.h"
#include "ep_quant.h"

int ep_qlinearconv(const ep_tensor *x, int64_t x_zp, const ep_tensor *w, const int64_t *w_zp, int64_t n_w,
                   const ep_tensor *bias, ep_tensor *y, int64_t y_zp, const int64_t *mult, const int64_t *shift,
                   int64_t n_q, const ep_conv_params *p)
{
    int64_t chans;
    ep_qout q;
    int rc = ep_check_q8(x);
    if (rc == EP_OK) {
        rc = ep_check_q8(w);
    }
    if (rc == EP_OK) {
        rc = ep_check_q8(y);
    }
    if (rc == EP_OK && bias != NULL) {
        rc = ep_check_dtype(bias, EP_INT32);
    }
    if (rc == EP_OK) {
        rc = ep_qconv_check(x, w, y, p);
    }
    if (rc != EP_OK) {
        return rc;
    }
    chans = w->dims[0];
    if (bias != NULL && (bias->rank != 1 || bias->dims[0] != chans)) {
        return EP_ERR_SHAPE;
    }
    rc = ep_qout_requant(&q, x, x_zp, w, w_zp, n_w, y, y_zp, mult, shift, n_q, bias, chans);
    if (rc != EP_OK) {
        return rc;
    }
    ep_qconv_run(x, (int32_t)x_zp, w, y, p, &q);
    return EP_OK;
}
