/* convinteger.h: ONNX ConvInteger (uint8 / int8 in, int32 out, 1-D and 2-D). */
#ifndef EP_OP_CONVINTEGER_H
#define EP_OP_CONVINTEGER_H

#include "ep_tensor.h"
#include "ep_window.h"

/* y = sum (x - x_zp) * (w - w_zp[m]) for each output channel m, saturated to int32. The zero
 * points are tensors of their data's type (NULL: 0; computed at run time or constant): x_zp one
 * element, w_zp 1 or M. EP_ERR_ARG for bad geometry (as ep_conv); EP_ERR_DTYPE / EP_ERR_SHAPE when
 * the descriptors disagree. */
int ep_convinteger(const ep_tensor *x, const ep_tensor *x_zp, const ep_tensor *w, const ep_tensor *w_zp,
                   ep_tensor *y, const ep_conv_params *p);

/* ep_convinteger with w (of element type w_dtype: EP_UINT8 or EP_INT8) packed at generate time (ep_qgemm.h:
 * uint8, M x ep_qconv_packed_kdim(C/group * kh * kw), taps in (ki, kj, ci) order) and wsum int32 (M); scratch holds scratch_floats floats,
 * at least ep_convinteger_packed_scratch_size's (else EP_ERR_ARG). */
int ep_convinteger_packed(const ep_tensor *x, const ep_tensor *x_zp, const ep_tensor *wp, const ep_tensor *wsum,
                          const ep_tensor *w_zp, ep_tensor *y, const ep_conv_params *p, int32_t w_dtype,
                          float *scratch, int64_t scratch_floats);

/* ep_convinteger_packed followed by the ops quantize_dynamic writes after it, as one call (ep_qgemm.h's
 * ep_qf_epilogue): y (float32) = act(float(sum + bias[m]) * scale[m]) with bias int32 (NULL: none) and scale
 * float32 of 1 or M elements each, act EP_QF_ACT_NONE or EP_QF_ACT_SWISH (alpha). */
int ep_convinteger_packed_f(const ep_tensor *x, const ep_tensor *x_zp, const ep_tensor *wp, const ep_tensor *wsum,
                            const ep_tensor *w_zp, const ep_tensor *bias, const ep_tensor *scale, ep_tensor *y,
                            const ep_conv_params *p, int32_t w_dtype, int32_t act, float alpha, float *scratch,
                            int64_t scratch_floats);

/* Floats of scratch ep_convinteger_packed and ep_convinteger_packed_f need (the padded input of a group channels
 * last and a block of patches, or ep_qgemm.h's float product where it applies); x, wp and p checked by the
 * caller. */
int64_t ep_convinteger_packed_scratch_size(const ep_tensor *x, const ep_tensor *wp, const ep_conv_params *p);

#endif
