/* ep_qgemm.h: the 8-bit convolution and matrix product as byte dot products over packed rows.
 *
 * Where the compiler turns a loop of `sum += (int32_t)u[k] * (int32_t)s[k]` (u unsigned bytes, s signed
 * bytes) into one instruction per vector (GCC 12 and later emit x86's VPDPBUSD with AVX-VNNI or
 * AVX512-VNNI, and VPMADDUBSW/VPMADDWD pairs with AVX2), the quantized convolution and matrix product run
 * as such dot products: the convolution's input patches and the matrix product's columns of b are
 * copied into contiguous rows of bytes first (on the stack, a block at a time: no allocation). Any 8-bit
 * operand is brought to the side's type by flipping its top bit (x ^ 0x80 is x + 128 for int8, x - 128
 * for uint8) with its zero point moved by the same 128, and the zero points stay out of the inner loop:
 *   sum (u - zu)(s - zs) = sum u s - zs sum u - zu sum s + k zu zs.
 * Sums are exact: int32 dot products of at most EP_QG_KB bytes (255 * 128 * 4096 < 2^31) added into
 * int64 totals, so the results are the direct loops' (ep_qconv_run, ep_qmatmul_run) bit for bit.
 * Elsewhere (other compilers and targets, -DEP_NO_VECTOR_EXT) these return 0 and the caller runs its
 * direct loops, which need no stack buffers.
 */
#ifndef EP_QGEMM_H
#define EP_QGEMM_H

#include "ep_quant.h"

/* ep_qconv_run's convolution (same arguments, checked the same way before) as dot products: 1 when it
 * computed y, 0 when the caller must (no fast dot product here, or more output channels per group than
 * its stack tile holds). */
int ep_qconv_dot(const ep_tensor *x, int32_t zx, const ep_tensor *w, ep_tensor *y, const ep_conv_params *p,
                 const ep_qout *q);

/* ep_qmatmul_run's matrix product (same arguments) as dot products: 1 when it computed y, else 0. */
int ep_qmatmul_dot(const ep_tensor *a, int32_t za, const ep_tensor *b, ep_tensor *y, const ep_qout *q);

/* Products with a constant second operand packed once at generate time (quant.py), in portable C99.
 * A matrix product's b (K x N) is packed as `bt`: ceil(N / EP_QP_NR) * EP_QP_NR rows of K int8 bytes, row j
 * column j of b as the signed side (uint8 with its top bit flipped; b_shift 128, int8: 0), rows past N
 * zero, and `bsum` the sum of each of the N rows. A convolution's w (M x C/group x kh x kw) is packed as
 * M rows of bytes, each output channel's taps in (ki, kj, ci) order, as the unsigned side (int8
 * flipped: w_shift 128, uint8: 0; rows padded, below), `wsum` each channel's sum. */
#define EP_QP_NR 4
/* bytes of rows of an int8 a flipped per block, and rows of a per block */
#define EP_QP_ABUF 65536
#define EP_QP_MAX_ROWS 256
/* patches of a convolution per block */
#define EP_QP_PATCHES 32

/* Rows of a per block of ep_qmatmul_packed_run (below the tile's rows: these shapes are not packed). */
int64_t ep_qmatmul_packed_rows(int64_t kdim, int a_int8);

/* ep_qmatmul_run's product with b packed (a, y checked as there; bt and bsum as above, sized by the
 * caller from a's last dim and y's). */
void ep_qmatmul_packed_run(const ep_tensor *a, int32_t za, const int8_t *bt, const int32_t *bsum, int32_t b_shift,
                           ep_tensor *y, const ep_qout *q);

/* A convolution's packed rows are kdim = C/group * kh * kw bytes rounded up to a multiple of EP_QP_KALIGN
 * (zero past kdim), so that short rows still run whole vectors. */
#define EP_QP_KALIGN 32
int64_t ep_qconv_packed_kdim(int64_t kdim);

/* Bytes of scratch ep_qconv_packed_run takes: the padded input of a group, channels last (hp x wp x cg),
 * and a block of patches. */
int64_t ep_qconv_packed_scratch(int64_t cg, int64_t hp, int64_t wp, int64_t kdim);

/* The float epilogue of a ConvInteger or MatMulInteger, as the ops after it in onnxruntime's
 * quantize_dynamic models compute it (an Add of an int32 bias, a Cast to float32, a Mul by the product of
 * the scales, then maybe a Swish / QuickGelu), per output channel c (a convolution's feature map, a
 * product's column):
 *   y = act(float(sum + bias[c]) * scale[c])
 * with the bias added wrapping as int32 (int_binary.c), one rounding for the product (mul.c) and the
 * activation as swish.c computes it, so the results are those ops' bit for bit. bias NULL: none; n_bias
 * and n_scale are 1 or one per channel. */
#define EP_QF_ACT_NONE 0
#define EP_QF_ACT_SWISH 7 /* y * Sigmoid(alpha * y), as swish.c (conv.h's EP_CONV_ACT_SWISH) */
typedef struct ep_qf_epilogue {
    const int32_t *bias;
    int64_t n_bias;
    const float *scale;
    int64_t n_scale;
    int32_t act;
    float alpha;
} ep_qf_epilogue;

/* Fills f from an int32 bias (NULL: none) and a float32 scale of 1 or `channels` elements each and the
 * activation `act` (EP_QF_ACT_*; alpha its parameter): EP_ERR_DTYPE / EP_ERR_SHAPE when the tensors do not
 * fit, EP_ERR_ARG for an unknown act. */
int ep_check_qf_epilogue(const ep_tensor *bias, const ep_tensor *scale, int64_t channels, int32_t act, float alpha,
                         ep_qf_epilogue *f);

/* ep_qmatmul_packed_run with the float epilogue f: y float32 (its shape as there). */
void ep_qmatmul_packed_run_f(const ep_tensor *a, int32_t za, const int8_t *bt, const int32_t *bsum, int32_t b_shift,
                             ep_tensor *y, const ep_qout *q, const ep_qf_epilogue *f);

/* Where a convolution's rows of taps are short (kdim <= EP_QP_FLOAT_K), or a 1x1 kernel's rows up to
 * EP_QP_FLOAT_K1 bytes meet at least EP_QP_FLOAT_NPOS output positions, and the target has the vector
 * extensions of ep_sgemm.c (EP_QG_FAST), ep_qconv_packed_run runs the convolution as a float32 product instead:
 * (w - zw) by the input's patches less zx, each an integer of at most 255 in magnitude, so every product and
 * every partial sum of at most 258 of them is an integer below 2^24 in magnitude, exact in float32 in any
 * order: the sums are the integer ones bit for bit, and ep_sgemm's register tiles take no reduction per output
 * (a dot product of bytes takes one: most of the work where rows are short; the product pays for converting
 * the patches, which wide outputs amortise). Bytes of scratch it takes for `mg` output channels a group,
 * rows of kdim bytes over `taps` kernel taps and `npos` output positions: 0 where it does not apply. */
#define EP_QP_FLOAT_K 64
#define EP_QP_FLOAT_K1 256
#define EP_QP_FLOAT_NPOS 512
int64_t ep_qconv_float_scratch(int64_t mg, int64_t kdim, int64_t taps, int64_t npos);

/* ep_qconv_run's convolution (x, y, p checked by ep_qconv_check against a w of `chans` output channels)
 * with w packed as above (chans rows of ep_qconv_packed_kdim bytes); scratch holds ep_qconv_packed_scratch
 * bytes, and ep_qconv_float_scratch's. */
void ep_qconv_packed_run(const ep_tensor *x, int32_t zx, const uint8_t *w, const int32_t *wsum, int32_t w_shift,
                         int64_t chans, ep_tensor *y, const ep_conv_params *p, const ep_qout *q, uint8_t *scratch);

/* ep_qconv_packed_run with the float epilogue f: y float32 (its shape as there), q without requantization
 * (ConvInteger's). */
void ep_qconv_packed_run_f(const ep_tensor *x, int32_t zx, const uint8_t *w, const int32_t *wsum, int32_t w_shift,
                           int64_t chans, ep_tensor *y, const ep_conv_params *p, const ep_qout *q, uint8_t *scratch,
                           const ep_qf_epilogue *f);

#endif
