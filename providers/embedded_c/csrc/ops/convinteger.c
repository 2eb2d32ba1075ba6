/* convinteger.c: default ONNX ConvInteger kernel (ep_qconv_run: direct loops, int32 runs folded into int64). */
#include "convinteger.h"
#include "ep_qgemm.h"
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

int64_t ep_convinteger_packed_scratch_size(const ep_tensor *x, const ep_tensor *wp, const ep_conv_params *p)
{
    int64_t ih, iw, cg = x->dims[1] / p->group, taps = p->kernel[0] * p->kernel[1], bytes, floats;
    int64_t hp, wp_, oh, ow;
    ep_window_spatial(x, &ih, &iw);
    hp = ih + p->pads[0] + p->pads[2];
    wp_ = iw + p->pads[1] + p->pads[3];
    oh = (hp - p->dilations[0] * (p->kernel[0] - 1) - 1) / p->strides[0] + 1;
    ow = (wp_ - p->dilations[1] * (p->kernel[1] - 1) - 1) / p->strides[1] + 1;
    bytes = ep_qconv_packed_scratch(cg, hp, wp_, cg * taps);
    floats = ep_qconv_float_scratch(wp->dims[0] / p->group, cg * taps, taps, oh > 0 && ow > 0 ? oh * ow : 0);
    return ((bytes > floats ? bytes : floats) + 3) / 4;
}

/* checks of ep_convinteger_packed and ep_convinteger_packed_f (y of element type y_dtype); *zx the input's
 * zero point, q w's zero points */
static int packed_check(const ep_tensor *x, const ep_tensor *x_zp, const ep_tensor *wp, const ep_tensor *wsum,
                        const ep_tensor *w_zp, const ep_tensor *y, int32_t y_dtype, const ep_conv_params *p,
                        int32_t w_dtype, const float *scratch, int64_t scratch_floats, int32_t *zx, ep_qout *q)
{
    int64_t n_x, n_w;
    ep_tensor w_like; /* the weights as the model has them: their shape for the geometry, their type */
    int rc = ep_check_q8(x);
    if (rc == EP_OK) {
        rc = ep_check_dtype(wp, EP_UINT8);
    }
    if (rc == EP_OK) {
        rc = ep_check_dtype(wsum, EP_INT32);
    }
    if (rc == EP_OK) {
        rc = ep_check_dtype(y, y_dtype);
    }
    if (rc != EP_OK) {
        return rc;
    }
    if (p == NULL || p->group < 1 || x->rank < 3 || x->rank > 4 || x->dims[1] % p->group != 0 || wp->rank != 2) {
        return p == NULL || p->group < 1 ? EP_ERR_ARG : EP_ERR_SHAPE;
    }
    w_like = *wp;
    w_like.dtype = w_dtype;
    w_like.rank = x->rank;
    w_like.dims[0] = wp->dims[0];
    w_like.dims[1] = x->dims[1] / p->group;
    w_like.dims[w_like.rank - 1] = p->kernel[1];
    if (x->rank == 4) {
        w_like.dims[2] = p->kernel[0];
    }
    rc = ep_qconv_check(x, &w_like, y, p);
    if (rc != EP_OK) {
        return rc;
    }
    if (wp->dims[1] != ep_qconv_packed_kdim(w_like.dims[1] * p->kernel[0] * p->kernel[1]) || wsum->rank != 1 ||
        wsum->dims[0] != wp->dims[0]) {
        return EP_ERR_SHAPE;
    }
    if ((w_dtype != EP_UINT8 && w_dtype != EP_INT8) || scratch == NULL ||
        scratch_floats < ep_convinteger_packed_scratch_size(x, wp, p)) {
        return EP_ERR_ARG;
    }
    rc = ep_check_zero_points(x_zp, x, 1, &n_x);
    if (rc == EP_OK) {
        rc = ep_check_zero_points(w_zp, &w_like, wp->dims[0], &n_w);
    }
    q->zp_t = w_zp;
    q->n_zp = n_w;
    *zx = rc == EP_OK ? ep_zero_point_at(x_zp, n_x, 0) : 0;
    return rc;
}

int ep_convinteger_packed(const ep_tensor *x, const ep_tensor *x_zp, const ep_tensor *wp, const ep_tensor *wsum,
                          const ep_tensor *w_zp, ep_tensor *y, const ep_conv_params *p, int32_t w_dtype,
                          float *scratch, int64_t scratch_floats)
{
    int32_t zx;
    ep_qout q = {NULL, NULL, 0, NULL, NULL, 0, 0, NULL};
    int rc = packed_check(x, x_zp, wp, wsum, w_zp, y, EP_INT32, p, w_dtype, scratch, scratch_floats, &zx, &q);
    if (rc != EP_OK) {
        return rc;
    }
    ep_qconv_packed_run(x, zx, (const uint8_t *)wp->data, (const int32_t *)wsum->data, w_dtype == EP_INT8 ? 128 : 0,
                        wp->dims[0], y, p, &q, (uint8_t *)scratch);
    return EP_OK;
}

int ep_convinteger_packed_f(const ep_tensor *x, const ep_tensor *x_zp, const ep_tensor *wp, const ep_tensor *wsum,
                            const ep_tensor *w_zp, const ep_tensor *bias, const ep_tensor *scale, ep_tensor *y,
                            const ep_conv_params *p, int32_t w_dtype, int32_t act, float alpha, float *scratch,
                            int64_t scratch_floats)
{
    int32_t zx;
    ep_qout q = {NULL, NULL, 0, NULL, NULL, 0, 0, NULL};
    ep_qf_epilogue f;
    int rc = packed_check(x, x_zp, wp, wsum, w_zp, y, EP_FLOAT32, p, w_dtype, scratch, scratch_floats, &zx, &q);
    if (rc == EP_OK) {
        rc = ep_check_qf_epilogue(bias, scale, wp->dims[0], act, alpha, &f);
    }
    if (rc != EP_OK) {
        return rc;
    }
    ep_qconv_packed_run_f(x, zx, (const uint8_t *)wp->data, (const int32_t *)wsum->data, w_dtype == EP_INT8 ? 128 : 0,
                          wp->dims[0], y, p, &q, (uint8_t *)scratch, &f);
    return EP_OK;
}
