/* convinteger.c: default ONNX ConvInteger kernel (direct loops, int64 accumulation). */
#include "convinteger.h"
#include "ep_quant.h"

int ep_convinteger(const ep_tensor *x, const ep_tensor *x_zp, const ep_tensor *w, const ep_tensor *w_zp,
                   ep_tensor *y, const ep_conv_params *p)
{
    int64_t nb, m, oy, ox, oh, ow, chans, n_x, n_w;
    int32_t zx;
    int32_t *py;
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
    chans = w->dims[0];
    rc = ep_check_zero_points(x_zp, x, 1, &n_x);
    if (rc == EP_OK) {
        rc = ep_check_zero_points(w_zp, w, chans, &n_w);
    }
    if (rc != EP_OK) {
        return rc;
    }
    zx = ep_zero_point_at(x_zp, n_x, 0);
    py = (int32_t *)y->data;
    ep_window_spatial(y, &oh, &ow);
    for (nb = 0; nb < x->dims[0]; ++nb) {
        for (m = 0; m < chans; ++m) {
            int32_t zw = ep_zero_point_at(w_zp, n_w, m);
            int64_t base = (nb * chans + m) * oh * ow;
            for (oy = 0; oy < oh; ++oy) {
                for (ox = 0; ox < ow; ++ox) {
                    int64_t acc = ep_qconv_acc(x, zx, w, zw, p, nb, m, oy, ox);
                    py[base + oy * ow + ox] =
                        (int32_t)(acc < INT32_MIN ? INT32_MIN : (acc > INT32_MAX ? INT32_MAX : acc));
                }
            }
        }
    }
    return EP_OK;
}
