/* qlinearconv.c: default ONNX QLinearConv kernel (direct loops, int64 accumulation, fixed-point
 * requantization). */
#include "qlinearconv.h"
#include "ep_quant.h"

int ep_qlinearconv(const ep_tensor *x, int64_t x_zp, const ep_tensor *w, const int64_t *w_zp, int64_t n_w,
                   const ep_tensor *bias, ep_tensor *y, int64_t y_zp, const int64_t *mult, const int64_t *shift,
                   int64_t n_q, const ep_conv_params *p)
{
    int64_t nb, m, oy, ox, oh, ow, k, chans;
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
    if (!ep_qparams_ok(w_zp, n_w, chans) || !ep_qparams_ok(mult, n_q, chans) || shift == NULL ||
        !ep_zero_point_ok(x, x_zp) || !ep_zero_point_ok(y, y_zp)) {
        return EP_ERR_ARG;
    }
    for (k = 0; k < n_w; ++k) {
        if (!ep_zero_point_ok(w, w_zp[k])) {
            return EP_ERR_ARG;
        }
    }
    for (k = 0; k < n_q; ++k) {
        if (!ep_requant_ok(mult[k], shift[k])) {
            return EP_ERR_ARG;
        }
    }
    ep_window_spatial(y, &oh, &ow);
    for (nb = 0; nb < x->dims[0]; ++nb) {
        for (m = 0; m < chans; ++m) {
            int64_t cq = n_q > 1 ? m : 0;
            int32_t zw = (int32_t)w_zp[n_w > 1 ? m : 0];
            int64_t b = bias ? ep_q_load(bias, m) : 0;
            int64_t base = (nb * chans + m) * oh * ow;
            for (oy = 0; oy < oh; ++oy) {
                for (ox = 0; ox < ow; ++ox) {
                    int64_t acc = b + ep_qconv_acc(x, (int32_t)x_zp, w, zw, p, nb, m, oy, ox);
                    ep_q_store(y, base + oy * ow + ox,
                               (int64_t)ep_requantize(acc, (int32_t)mult[cq], (int32_t)shift[cq]) + y_zp);
                }
            }
        }
    }
    return EP_OK;
}
