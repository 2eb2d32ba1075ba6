/* kernel_guards.c: calls the C operators with descriptors and parameters that do not agree (as a
 * lying model would produce) and checks that each refuses with an error code before touching
 * memory. Built with the whole library under AddressSanitizer and UBSan by
 * tests/test_embedded_c_csrc.py: an out-of-bounds access or a division by zero aborts the run.
 * Prints one line per failed expectation and exits 1 if there was any. */
#include <math.h>
#include <stdio.h>

#include "averagepool.h"
#include "batchnormalization.h"
#include "concat.h"
#include "conv.h"
#include "gemm.h"
#include "globalaveragepool.h"
#include "identity.h"
#include "lrn.h"
#include "matmul.h"
#include "maxpool.h"
#include "add.h"
#include "affine.h"
#include "relu.h"
#include "softmax.h"
#include "sum.h"
#include "transpose.h"
#include "gather.h"
#include "gelu.h"
#include "hardswish.h"
#include "layernormalization.h"
#include "pad.h"
#include "pow.h"
#include "resize.h"
#include "slice.h"
#include "split.h"
#include "convtranspose.h"
#include "gru.h"
#include "lstm.h"
#include "reduce.h"
#include "logsoftmax.h"
#include "cast.h"
#include "convinteger.h"
#include "dequantizelinear.h"
#include "dynamicquantizelinear.h"
#include "matmulinteger.h"
#include "qlinearconv.h"
#include "qlinearmatmul.h"
#include "quantizelinear.h"
#include "compare.h"
#include "logical.h"
#include "not.h"
#include "argmax.h"
#include "dynamicquantizelstm.h"
#include "expand.h"
#include "where.h"

/* Exactly as large as the descriptors built below claim, so ASan sees any overrun. */
static float small[4];
static float mid[48];
static float big[64];
static float scratch[1024];
static int failures = 0;

static void expect(const char *what, int got, int want)
{
    if (got != want) {
        printf("FAIL %s: returned %d, expected %d\n", what, got, want);
        ++failures;
    }
}

static ep_tensor t1(float *data, int64_t a)
{
    int64_t d[1];
    d[0] = a;
    return ep_make_tensor(data, EP_FLOAT32, 1, d);
}

static ep_tensor t2(float *data, int64_t a, int64_t b)
{
    int64_t d[2];
    d[0] = a;
    d[1] = b;
    return ep_make_tensor(data, EP_FLOAT32, 2, d);
}

static ep_tensor t4(float *data, int64_t a, int64_t b, int64_t c, int64_t e)
{
    int64_t d[4];
    d[0] = a;
    d[1] = b;
    d[2] = c;
    d[3] = e;
    return ep_make_tensor(data, EP_FLOAT32, 4, d);
}

static ep_conv_params conv_params(int64_t stride, int64_t dilation, int64_t pad, int64_t group)
{
    ep_conv_params p;
    p.group = group;
    p.kernel[0] = p.kernel[1] = 2;
    p.strides[0] = p.strides[1] = stride;
    p.dilations[0] = p.dilations[1] = dilation;
    p.pads[0] = p.pads[1] = p.pads[2] = p.pads[3] = pad;
    return p;
}

static void conv_cases(void)
{
    ep_tensor x = t4(mid, 1, 3, 4, 4);   /* 48 floats */
    ep_tensor w = t4(big, 2, 3, 2, 2);   /* 24 floats */
    ep_tensor y = t4(small, 1, 2, 1, 1); /* 2 floats: a 2x2 kernel with stride 3 gives 1x1 */
    ep_tensor y_big = t4(big, 1, 2, 3, 3);
    ep_tensor b_short = t1(small, 1);
    ep_conv_params p = conv_params(3, 1, 0, 1);
    expect("conv valid", ep_conv(&x, &w, NULL, &y, &p, scratch), EP_OK);
    p = conv_params(0, 1, 0, 1);
    expect("conv strides 0", ep_conv(&x, &w, NULL, &y, &p, scratch), EP_ERR_ARG);
    p = conv_params(3, 0, 0, 1);
    expect("conv dilations 0", ep_conv(&x, &w, NULL, &y, &p, scratch), EP_ERR_ARG);
    p = conv_params(3, 1, -1, 1);
    expect("conv negative pad", ep_conv(&x, &w, NULL, &y, &p, scratch), EP_ERR_ARG);
    p = conv_params(3, 1, 0, 0);
    expect("conv group 0", ep_conv(&x, &w, NULL, &y, &p, scratch), EP_ERR_ARG);
    p = conv_params(3, 1, 0, 1);
    p.kernel[0] = 0;
    expect("conv kernel 0", ep_conv(&x, &w, NULL, &y, &p, scratch), EP_ERR_ARG);
    p = conv_params(3, 1, 0, 1);
    expect("conv output larger than implied", ep_conv(&x, &w, NULL, &y_big, &p, scratch), EP_ERR_SHAPE);
    expect("conv 1-element bias", ep_conv(&x, &w, &b_short, &y, &p, scratch), EP_ERR_SHAPE);
    p = conv_params(1, 1, 0, 1);
    p.kernel[1] = 3; /* disagrees with w */
    expect("conv kernel vs weight", ep_conv(&x, &w, NULL, &y_big, &p, scratch), EP_ERR_SHAPE);
    {
        /* ConvTranspose: x 1 x 3 x 2 x 2 (12 floats), w 3 x 2 x 2 x 2, y 1 x 2 x 4 x 4 (stride 2) */
        ep_tensor xt = t4(small, 1, 1, 2, 2);
        ep_tensor wt = t4(mid, 1, 2, 2, 2);
        ep_tensor yt = t4(big, 1, 2, 4, 4);
        ep_tensor yt_lie = t4(big, 1, 3, 4, 4);
        p = conv_params(2, 1, 0, 1);
        expect("convtranspose valid", ep_convtranspose(&xt, &wt, NULL, &yt, &p, scratch), EP_OK);
        expect("convtranspose channels lie", ep_convtranspose(&xt, &wt, NULL, &yt_lie, &p, scratch), EP_ERR_SHAPE);
        expect("convtranspose missing scratch", ep_convtranspose(&xt, &wt, NULL, &yt, &p, NULL), EP_ERR_ARG);
        p = conv_params(0, 1, 0, 1);
        expect("convtranspose strides 0", ep_convtranspose(&xt, &wt, NULL, &yt, &p, scratch), EP_ERR_ARG);
        p = conv_params(2, 1, 0, 1);
        p.pads[0] = -((int64_t)1 << 40);
        expect("convtranspose huge pad", ep_convtranspose(&xt, &wt, NULL, &yt, &p, scratch), EP_ERR_ARG);
    }
}

static void pool_cases(void)
{
    ep_tensor x = t4(mid, 1, 3, 4, 4);
    ep_tensor y = t4(mid, 1, 3, 2, 2);
    ep_tensor y_lie = t4(big, 1, 4, 4, 4);
    ep_pool_params p;
    p.kernel[0] = p.kernel[1] = 2;
    p.strides[0] = p.strides[1] = 2;
    p.dilations[0] = p.dilations[1] = 1;
    p.pads[0] = p.pads[1] = p.pads[2] = p.pads[3] = 0;
    p.count_include_pad = 0;
    expect("maxpool valid", ep_maxpool(&x, &y, &p), EP_OK);
    expect("maxpool channels lie", ep_maxpool(&x, &y_lie, &p), EP_ERR_SHAPE);
    p.strides[1] = 0;
    expect("maxpool strides 0", ep_maxpool(&x, &y, &p), EP_ERR_ARG);
    expect("averagepool strides 0", ep_averagepool(&x, &y, &p), EP_ERR_ARG);
    p.strides[1] = 2;
    p.kernel[0] = -1;
    expect("averagepool negative kernel", ep_averagepool(&x, &y, &p), EP_ERR_ARG);
}

static void batchnorm_cases(void)
{
    ep_tensor x = t4(mid, 1, 3, 4, 4);
    ep_tensor y = t4(mid, 1, 3, 4, 4);
    ep_tensor one = t1(small, 1);
    ep_tensor three = t1(small, 3);
    expect("batchnorm valid", ep_batchnormalization(&x, &three, &three, &three, &three, &y, 1e-5f), EP_OK);
    expect("batchnorm 1-element scale", ep_batchnormalization(&x, &one, &three, &three, &three, &y, 1e-5f),
           EP_ERR_SHAPE);
    expect("batchnorm 1-element var", ep_batchnormalization(&x, &three, &three, &three, &one, &y, 1e-5f),
           EP_ERR_SHAPE);
    expect("batchnorm NULL mean", ep_batchnormalization(&x, &three, &three, NULL, &three, &y, 1e-5f), EP_ERR_ARG);
}

static void shape_lie_cases(void)
{
    ep_tensor four = t1(small, 4);
    ep_tensor lie = t1(big, 64);
    ep_tensor two_by_two = t2(small, 2, 2);
    ep_tensor a = t2(mid, 4, 12);
    ep_tensor b = t2(big, 12, 4);
    ep_tensor y_lie = t2(big, 8, 8);
    ep_tensor y = t2(scratch, 4, 4);
    ep_tensor *pair[2];
    const ep_tensor *cpair[2];
    int64_t perm_dup[2];
    expect("relu output larger than input", ep_relu(&four, &lie), EP_ERR_SHAPE);
    expect("relu input larger than output", ep_relu(&lie, &four), EP_ERR_SHAPE);
    expect("identity reshape keeps elements", ep_identity(&four, &two_by_two), EP_OK);
    expect("identity reshape to more elements", ep_identity(&four, &lie), EP_ERR_SHAPE);
    expect("add output larger than broadcast", ep_add(&four, &four, &lie), EP_ERR_SHAPE);
    expect("softmax output lie", ep_softmax(&four, &lie, 0, 0), EP_ERR_SHAPE);
    expect("softmax axis out of range", ep_softmax(&four, &four, 3, 0), EP_ERR_ARG);
    expect("matmul valid", ep_matmul(&a, &b, &y), EP_OK);
    expect("matmul output lie", ep_matmul(&a, &b, &y_lie), EP_ERR_SHAPE);
    expect("gemm output lie", ep_gemm(&a, &b, NULL, &y_lie, 1.0f, 1.0f, 0, 0), EP_ERR_SHAPE);
    expect("gemm C does not broadcast", ep_gemm(&a, &b, &lie, &y, 1.0f, 1.0f, 0, 0), EP_ERR_SHAPE);
    expect("globalaveragepool output lie", ep_globalaveragepool(&four, &four), EP_ERR_SHAPE);
    expect("lrn size 0", ep_lrn(&two_by_two, &two_by_two, 0, 1e-4f, 0.75f, 1.0f), EP_ERR_ARG);
    perm_dup[0] = perm_dup[1] = 0;
    expect("transpose repeated axis", ep_transpose(&two_by_two, &two_by_two, perm_dup), EP_ERR_ARG);
    pair[0] = &four;
    pair[1] = &four;
    cpair[0] = pair[0];
    cpair[1] = pair[1];
    expect("concat lengths do not add up", ep_concat(cpair, 2, 0, &lie), EP_ERR_SHAPE);
    expect("concat negative axis", ep_concat(cpair, 2, -1, &lie), EP_ERR_ARG);
    expect("sum output lie", ep_sum(cpair, 2, &lie), EP_ERR_SHAPE);
}

static void nan_cases(void)
{
    ep_tensor x = t1(small, 1);
    ep_tensor y = t1(mid, 1);
    small[0] = NAN;
    expect("relu NaN", ep_relu(&x, &y), EP_OK);
    if (mid[0] == mid[0]) {
        printf("FAIL relu NaN: got %g, expected NaN\n", (double)mid[0]);
        ++failures;
    }
    small[0] = 0.0f;
}

static void edge_op_cases(void)
{
    ep_tensor four = t1(small, 4);
    ep_tensor lie = t1(big, 64);
    ep_tensor x = t2(mid, 4, 12);   /* 48 floats */
    ep_tensor y_pad = t2(big, 6, 10); /* 60 of 64 floats */
    ep_tensor y_slice = t2(small, 2, 2);
    ep_tensor y_gather = t2(big, 4, 2);
    ep_tensor part = t2(mid, 4, 6);
    ep_tensor part_lie = t2(big, 4, 7);
    ep_tensor one = t2(small, 1, 4);
    ep_tensor row = t1(small, 4);
    ep_tensor img = t4(mid, 1, 3, 4, 4);
    ep_tensor img_up = t4(big, 1, 1, 8, 8);
    ep_tensor img_lie = t4(big, 1, 4, 4, 4);
    const ep_tensor *parts[2];
    int64_t begin[2], starts[2], steps[2], idx[2], rows8[8], cols8[8];
    float w8[8];
    int k;
    begin[0] = 1;
    begin[1] = -1;
    expect("pad valid crop and pad", ep_pad(&x, &y_pad, begin, EP_PAD_CONSTANT, 0.0f), EP_OK);
    expect("pad unknown mode", ep_pad(&x, &y_pad, begin, 9, 0.0f), EP_ERR_ARG);
    expect("pad rank lie", ep_pad(&x, &lie, begin, EP_PAD_EDGE, 0.0f), EP_ERR_SHAPE);
    begin[0] = 0;
    begin[1] = 1;
    expect("pad reflect on length 1", ep_pad(&one, &y_slice, begin, EP_PAD_REFLECT, 0.0f), EP_ERR_SHAPE);
    starts[0] = 3;
    starts[1] = 11;
    steps[0] = 1;
    steps[1] = -5;
    expect("slice reads past x", ep_slice(&x, &y_slice, starts, steps), EP_ERR_SHAPE); /* row 4 of 4 rows */
    starts[0] = 2;
    expect("slice valid", ep_slice(&x, &y_slice, starts, steps), EP_OK);
    steps[1] = -12;
    expect("slice reads before x", ep_slice(&x, &y_slice, starts, steps), EP_ERR_SHAPE);
    steps[1] = 0;
    expect("slice step 0", ep_slice(&x, &y_slice, starts, steps), EP_ERR_ARG);
    parts[0] = &part;
    parts[1] = &part;
    expect("split valid", ep_split(&x, 1, parts, 2), EP_OK);
    parts[1] = &part_lie;
    expect("split lengths lie", ep_split(&x, 1, parts, 2), EP_ERR_SHAPE);
    expect("split axis out of range", ep_split(&x, 2, parts, 2), EP_ERR_ARG);
    {
        int64_t dims1[1] = {2};
        ep_tensor ind = ep_make_tensor(idx, EP_INT64, 1, dims1);
        idx[0] = 3;
        idx[1] = -12;
        expect("gather valid", ep_gather(&x, &ind, &y_gather, 1), EP_OK);
        expect("gather output smaller than 4 x 2", ep_gather(&x, &ind, &y_slice, 1), EP_ERR_SHAPE);
        expect("gather output larger than 4 x 2", ep_gather(&x, &ind, &part, 1), EP_ERR_SHAPE);
        idx[0] = 12;
        expect("gather index past the axis", ep_gather(&x, &ind, &y_gather, 1), EP_ERR_SHAPE);
        idx[0] = -13;
        expect("gather index before the axis", ep_gather(&x, &ind, &y_gather, 1), EP_ERR_SHAPE);
        expect("gather float indices", ep_gather(&x, &four, &y_gather, 1), EP_ERR_DTYPE);
    }
    expect("layernorm valid", ep_layernormalization(&x, &x, NULL, &x, 0, 1e-5f), EP_OK);
    expect("layernorm short scale", ep_layernormalization(&x, &row, NULL, &x, 1, 1e-5f), EP_ERR_SHAPE);
    expect("layernorm axis out of range", ep_layernormalization(&x, &row, NULL, &x, 2, 1e-5f), EP_ERR_ARG);
    expect("layernorm NaN epsilon", ep_layernormalization(&x, &x, NULL, &x, 0, NAN), EP_ERR_ARG);
    for (k = 0; k < 8; ++k) {
        rows8[k] = cols8[k] = k / 2;
        w8[k] = 1.0f;
    }
    img = t4(mid, 1, 1, 4, 4);
    expect("resize valid", ep_resize(&img, &img_up, 1, rows8, w8, 1, cols8, w8), EP_OK);
    rows8[7] = 4;
    expect("resize index past the input", ep_resize(&img, &img_up, 1, rows8, w8, 1, cols8, w8), EP_ERR_SHAPE);
    expect("resize channels lie", ep_resize(&img, &img_lie, 1, rows8, w8, 1, cols8, w8), EP_ERR_SHAPE);
    expect("resize taps 0", ep_resize(&img, &img_up, 0, rows8, w8, 1, cols8, w8), EP_ERR_ARG);
    expect("gelu approximate 2", ep_gelu(&four, &four, 2), EP_ERR_ARG);
    {
        ep_tensor s1 = t1(small, 1);
        ep_tensor y_aff = t2(big, 4, 12);
        expect("affine valid", ep_affine(&x, &s1, &s1, &y_aff), EP_OK);
        expect("affine scale of neither 1 nor 12 channels", ep_affine(&x, &four, &s1, &y_aff), EP_ERR_SHAPE);
        expect("affine output lie", ep_affine(&x, &s1, &s1, &lie), EP_ERR_SHAPE);
        expect("affine NULL shift", ep_affine(&x, &s1, NULL, &y_aff), EP_ERR_ARG);
    }
    expect("hardswish output lie", ep_hardswish(&four, &lie), EP_ERR_SHAPE);
    expect("pow output lie", ep_pow(&four, &four, &lie), EP_ERR_SHAPE);
    expect("reduce valid", ep_reduce(&x, &row, 2, EP_REDUCE_MEAN), EP_OK);
    expect("reduce output lie", ep_reduce(&x, &lie, 2, EP_REDUCE_MAX), EP_ERR_SHAPE);
    expect("reduce axis beyond the rank", ep_reduce(&x, &row, 4, EP_REDUCE_SUM), EP_ERR_ARG);
    expect("reduce unknown mode", ep_reduce(&x, &row, 2, 7), EP_ERR_ARG);
    expect("logsoftmax output lie", ep_logsoftmax(&four, &lie, 0, 0), EP_ERR_SHAPE);
    expect("logsoftmax axis out of range", ep_logsoftmax(&four, &four, 1, 0), EP_ERR_ARG);
}

static uint8_t qa[48];
static int8_t qb[24];
static uint8_t qy[16];
static int32_t qi[16];

static ep_tensor typed(void *data, int32_t dtype, int32_t rank, int64_t a, int64_t b, int64_t c, int64_t e)
{
    int64_t d[4];
    d[0] = a;
    d[1] = b;
    d[2] = c;
    d[3] = e;
    return ep_make_tensor(data, dtype, rank, d);
}

static void quant_cases(void)
{
    ep_tensor x = typed(qa, EP_UINT8, 4, 1, 3, 4, 4);     /* 48 bytes */
    ep_tensor w = typed(qb, EP_INT8, 4, 2, 3, 2, 2);      /* 24 bytes */
    ep_tensor y = typed(qy, EP_UINT8, 4, 1, 2, 2, 2);     /* stride 2 gives 2 x 2 */
    ep_tensor y_lie = typed(qy, EP_UINT8, 4, 1, 2, 3, 3); /* 18 > 16 bytes */
    ep_tensor yi = typed(qi, EP_INT32, 4, 1, 2, 2, 2);
    ep_tensor a = typed(qa, EP_UINT8, 2, 4, 6, 1, 1);
    ep_tensor b = typed(qb, EP_INT8, 2, 6, 4, 1, 1);
    ep_tensor ym = typed(qy, EP_UINT8, 2, 4, 4, 1, 1);
    ep_tensor yim = typed(qi, EP_INT32, 2, 4, 4, 1, 1);
    ep_tensor b_lie = typed(qb, EP_INT8, 2, 5, 4, 1, 1);
    ep_tensor f = t1(mid, 16);
    ep_tensor q16 = typed(qy, EP_UINT8, 1, 16, 1, 1, 1);
    ep_tensor q_big = typed(qa, EP_UINT8, 1, 48, 1, 1, 1);
    ep_tensor scale1 = t1(small, 1);
    ep_tensor zp1 = typed(qy, EP_UINT8, 1, 1, 1, 1, 1);
    ep_tensor zp_wrong_type = typed(qb, EP_INT8, 1, 1, 1, 1, 1);
    ep_conv_params p = conv_params(2, 1, 0, 1);
    int64_t zero[2] = {0, 0};
    int64_t mult[2] = {1073741824, 1073741824};
    int64_t shift[2] = {0, 0};
    int64_t bad_mult[2] = {5, 5};
    float scales[2] = {0.5f, 0.0f};
    expect("qlinearconv valid", ep_qlinearconv(&x, 0, &w, zero, 1, NULL, &y, 0, mult, shift, 2, &p), EP_OK);
    expect("qlinearconv output lie", ep_qlinearconv(&x, 0, &w, zero, 1, NULL, &y_lie, 0, mult, shift, 2, &p),
           EP_ERR_SHAPE);
    expect("qlinearconv multiplier out of range",
           ep_qlinearconv(&x, 0, &w, zero, 1, NULL, &y, 0, bad_mult, shift, 2, &p), EP_ERR_ARG);
    expect("qlinearconv 3 multipliers for 2 channels",
           ep_qlinearconv(&x, 0, &w, zero, 1, NULL, &y, 0, mult, shift, 3, &p), EP_ERR_ARG);
    expect("qlinearconv zero point outside uint8",
           ep_qlinearconv(&x, 300, &w, zero, 1, NULL, &y, 0, mult, shift, 2, &p), EP_ERR_ARG);
    expect("qlinearconv float input", ep_qlinearconv(&f, 0, &w, zero, 1, NULL, &y, 0, mult, shift, 2, &p),
           EP_ERR_DTYPE);
    expect("convinteger valid", ep_convinteger(&x, &zp1, &w, NULL, &yi, &p), EP_OK);
    expect("convinteger zero point of another type", ep_convinteger(&x, &zp_wrong_type, &w, NULL, &yi, &p),
           EP_ERR_DTYPE);
    expect("convinteger uint8 output", ep_convinteger(&x, NULL, &w, NULL, &y, &p), EP_ERR_DTYPE);
    expect("qlinearmatmul valid", ep_qlinearmatmul(&a, 0, &b, zero, 1, &ym, 0, mult, shift, 1), EP_OK);
    expect("qlinearmatmul inner dims lie", ep_qlinearmatmul(&a, 0, &b_lie, zero, 1, &ym, 0, mult, shift, 1),
           EP_ERR_SHAPE);
    expect("matmulinteger valid", ep_matmulinteger(&a, &zp1, &b, NULL, &yim), EP_OK);
    expect("matmulinteger 16-element zero point", ep_matmulinteger(&a, &q16, &b, NULL, &yim), EP_ERR_SHAPE);
    expect("quantizelinear valid", ep_quantizelinear(&f, &q16, 0, scales, zero, 1), EP_OK);
    expect("quantizelinear scale 0", ep_quantizelinear(&f, &q16, 0, scales + 1, zero, 1), EP_ERR_ARG);
    expect("quantizelinear output lie", ep_quantizelinear(&f, &q_big, 0, scales, zero, 1), EP_ERR_SHAPE);
    expect("quantizelinear 2 scales for 16", ep_quantizelinear(&f, &q16, 0, scales, zero, 2), EP_ERR_ARG);
    expect("dequantizelinear valid", ep_dequantizelinear(&q16, &f, 0, scales, zero, 1), EP_OK);
    expect("dequantizelinear output lie", ep_dequantizelinear(&q_big, &f, 0, scales, zero, 1), EP_ERR_SHAPE);
    expect("dynamicquantizelinear valid", ep_dynamicquantizelinear(&f, &q16, &scale1, &zp1), EP_OK);
    expect("dynamicquantizelinear 16-element scale", ep_dynamicquantizelinear(&f, &q16, &f, &zp1), EP_ERR_SHAPE);
    expect("cast valid", ep_cast(&q16, &f), EP_OK);
    expect("cast output lie", ep_cast(&q_big, &f), EP_ERR_SHAPE);
    expect("cast to uint8", ep_cast(&f, &q16), EP_ERR_DTYPE);
    mid[3] = NAN;
    expect("quantizelinear NaN", ep_quantizelinear(&f, &q16, 0, scales, zero, 1), EP_OK);
    if (qy[3] != 0) {
        printf("FAIL quantizelinear NaN: got %d, expected the zero point 0\n", qy[3]);
        ++failures;
    }
    mid[3] = 0.0f;
}

static void rnn_cases(void)
{
    /* seq 2, batch 1, input 2, hidden 1: LSTM W 4 x 2, GRU W 3 x 2 */
    ep_tensor x = t4(small, 2, 1, 2, 1);
    ep_tensor w4 = t4(mid, 1, 4, 2, 1);
    ep_tensor r4 = t4(mid, 1, 4, 1, 1);
    ep_tensor w3 = t4(mid, 1, 3, 2, 1);
    ep_tensor r3 = t4(mid, 1, 3, 1, 1);
    ep_tensor y = t4(big, 2, 1, 1, 1);
    static int32_t lens_ok[1] = {1};
    static int32_t lens_long[1] = {3};
    int64_t d[1] = {1};
    ep_tensor lens = ep_make_tensor(lens_ok, EP_INT32, 1, d);
    ep_tensor lens_bad = ep_make_tensor(lens_long, EP_INT32, 1, d);
    int64_t bad_kind[3] = {0, 1, 42};
    float ab[3] = {0.0f, 0.0f, 0.0f};
    x.rank = w4.rank = r4.rank = w3.rank = r3.rank = 3;
    y.rank = 4;
    expect("lstm valid with lengths", ep_lstm(&x, &w4, &r4, NULL, &lens, NULL, NULL, NULL, &y, NULL, NULL, 0, 0,
                                              NULL, NULL, NULL, 0.0f, 0, scratch), EP_OK);
    expect("lstm length past seq", ep_lstm(&x, &w4, &r4, NULL, &lens_bad, NULL, NULL, NULL, &y, NULL, NULL, 0, 0,
                                           NULL, NULL, NULL, 0.0f, 0, scratch), EP_ERR_ARG);
    expect("lstm float lengths", ep_lstm(&x, &w4, &r4, NULL, &x, NULL, NULL, NULL, &y, NULL, NULL, 0, 0,
                                         NULL, NULL, NULL, 0.0f, 0, scratch), EP_ERR_DTYPE);
    expect("lstm unknown activation", ep_lstm(&x, &w4, &r4, NULL, NULL, NULL, NULL, NULL, &y, NULL, NULL, 0, 0,
                                              bad_kind, ab, ab, 0.0f, 0, scratch), EP_ERR_ARG);
    expect("lstm layout 2", ep_lstm(&x, &w4, &r4, NULL, NULL, NULL, NULL, NULL, &y, NULL, NULL, 0, 2,
                                    NULL, NULL, NULL, 0.0f, 0, scratch), EP_ERR_ARG);
    expect("gru valid", ep_gru(&x, &w3, &r3, NULL, &lens, NULL, &y, NULL, 0, 0, NULL, NULL, NULL, 0.0f, 1, scratch),
           EP_OK);
    expect("gru W of the LSTM", ep_gru(&x, &w4, &r4, NULL, NULL, NULL, &y, NULL, 0, 0, NULL, NULL, NULL, 0.0f, 0,
                                       scratch), EP_ERR_SHAPE);
    expect("gru length past seq", ep_gru(&x, &w3, &r3, NULL, &lens_bad, NULL, &y, NULL, 0, 0, NULL, NULL, NULL, 0.0f,
                                         0, scratch), EP_ERR_ARG);
    expect("gru missing scratch", ep_gru(&x, &w3, &r3, NULL, NULL, NULL, &y, NULL, 0, 0, NULL, NULL, NULL, 0.0f, 0,
                                         NULL), EP_ERR_ARG);
}

static void bool_cases(void)
{
    static unsigned char flags[4];
    static int64_t ids[4];
    int64_t d3[1] = {3};
    int64_t d4[1] = {4};
    int64_t d2[1] = {2};
    int taken = 0;
    ep_tensor f4 = t1(small, 4);
    ep_tensor f3 = t1(small, 3);
    ep_tensor b4 = ep_make_tensor(flags, EP_BOOL, 1, d4);
    ep_tensor b3 = ep_make_tensor(flags, EP_BOOL, 1, d3);
    ep_tensor b1 = ep_make_tensor(flags, EP_BOOL, 0, d4);
    ep_tensor b2 = ep_make_tensor(flags, EP_BOOL, 1, d2);
    ep_tensor i4 = ep_make_tensor(ids, EP_INT64, 1, d4);
    expect("compare valid", ep_compare(&f4, &f4, &b4, EP_CMP_LESS), EP_OK);
    expect("compare output not broadcast", ep_compare(&f4, &f4, &b3, EP_CMP_LESS), EP_ERR_SHAPE);
    expect("compare inputs not broadcastable", ep_compare(&f4, &f3, &b4, EP_CMP_EQUAL), EP_ERR_SHAPE);
    expect("compare float with int64", ep_compare(&f4, &i4, &b4, EP_CMP_EQUAL), EP_ERR_DTYPE);
    expect("compare float output", ep_compare(&f4, &f4, &f4, EP_CMP_EQUAL), EP_ERR_DTYPE);
    expect("compare unknown op", ep_compare(&f4, &f4, &b4, 5), EP_ERR_ARG);
    expect("compare ordering bools", ep_compare(&b4, &b4, &b4, EP_CMP_GREATER), EP_ERR_DTYPE);
    expect("logical valid", ep_logical(&b4, &b1, &b4, EP_LOGICAL_XOR), EP_OK);
    expect("logical of floats", ep_logical(&f4, &b4, &b4, EP_LOGICAL_AND), EP_ERR_DTYPE);
    expect("logical unknown op", ep_logical(&b4, &b4, &b4, 3), EP_ERR_ARG);
    expect("not shapes differ", ep_not(&b4, &b3), EP_ERR_SHAPE);
    expect("if cond valid", ep_if_cond(&b1, &taken), EP_OK);
    expect("if cond of two elements", ep_if_cond(&b2, &taken), EP_ERR_SHAPE);
    expect("if cond of floats", ep_if_cond(&f4, &taken), EP_ERR_DTYPE);
    expect("if cond without an answer", ep_if_cond(&b1, NULL), EP_ERR_ARG);
}

/* DynamicQuantizeLSTM (seq 2, batch 1, input 3, hidden 2), Gather of bytes, Expand, ArgMax and Where */
static void select_and_qlstm_cases(void)
{
    static int8_t qw[24], qr[16], bytes[6], bytes_out[4];
    static int32_t sums[8], lens_v[1];
    static int64_t arg_out[2], idx[2];
    static float x_v[6], scales[8], y_v[4], yh[2], small_scratch[64];
    static unsigned char conds[3];
    const int64_t zeros[2] = {0, 0}, bad_zeros[2] = {0, 200};
    int64_t d3[3] = {2, 1, 3}, dw[3] = {1, 8, 3}, dr[3] = {1, 8, 2}, d8[2] = {1, 8}, dy[4] = {2, 1, 1, 2};
    int64_t ds[3] = {1, 1, 2}, d1[1] = {1}, d2[1] = {2}, d23[2] = {2, 3}, d22[2] = {2, 2}, d3v[1] = {3};
    int64_t d6[1] = {6}, d32[2] = {3, 2};
    ep_tensor x = ep_make_tensor(x_v, EP_FLOAT32, 3, d3), wt = ep_make_tensor(qw, EP_INT8, 3, dw);
    ep_tensor wt_float = ep_make_tensor(big, EP_FLOAT32, 3, dw), rt = ep_make_tensor(qr, EP_INT8, 3, dr);
    ep_tensor sum = ep_make_tensor(sums, EP_INT32, 2, d8), scale = ep_make_tensor(scales, EP_FLOAT32, 2, d8);
    ep_tensor sum_short = ep_make_tensor(sums, EP_INT32, 1, d2), y = ep_make_tensor(y_v, EP_FLOAT32, 4, dy);
    ep_tensor y_h = ep_make_tensor(yh, EP_FLOAT32, 3, ds), y_small = ep_make_tensor(y_v, EP_FLOAT32, 3, ds);
    ep_tensor lens = ep_make_tensor(lens_v, EP_INT32, 1, d1);
    ep_tensor b23 = ep_make_tensor(bytes, EP_INT8, 2, d23), b22 = ep_make_tensor(bytes_out, EP_INT8, 2, d22);
    ep_tensor f23 = ep_make_tensor(mid, EP_FLOAT32, 2, d23), ind = ep_make_tensor(idx, EP_INT64, 1, d2);
    ep_tensor am = ep_make_tensor(arg_out, EP_INT64, 1, d2), b6 = ep_make_tensor(bytes, EP_INT8, 1, d6);
    ep_tensor c3 = ep_make_tensor(conds, EP_BOOL, 1, d3v), b3 = ep_make_tensor(bytes, EP_INT8, 1, d3v);
    ep_tensor b32 = ep_make_tensor(bytes, EP_INT8, 2, d32);
    expect("qlstm scratch fits", ep_dynamicquantizelstm_scratch_size(2, 1, 3, 2) <= 64, 1);
    expect("qlstm valid", ep_dynamicquantizelstm(&x, &wt, &sum, &scale, &rt, &sum, &scale, zeros, NULL, NULL, NULL,
                                                 NULL, NULL, &y, &y_h, NULL, 0, NULL, NULL, NULL, 0.0f, 0, 1,
                                                 small_scratch), EP_OK);
    expect("qlstm float weights", ep_dynamicquantizelstm(&x, &wt_float, &sum, &scale, &rt, &sum, &scale, zeros, NULL,
                                                         NULL, NULL, NULL, NULL, &y, NULL, NULL, 0, NULL, NULL, NULL,
                                                         0.0f, 0, 1, small_scratch), EP_ERR_DTYPE);
    expect("qlstm short sums", ep_dynamicquantizelstm(&x, &wt, &sum_short, &scale, &rt, &sum, &scale, zeros, NULL,
                                                      NULL, NULL, NULL, NULL, &y, NULL, NULL, 0, NULL, NULL, NULL,
                                                      0.0f, 0, 1, small_scratch), EP_ERR_SHAPE);
    expect("qlstm zero point out of int8", ep_dynamicquantizelstm(&x, &wt, &sum, &scale, &rt, &sum, &scale, bad_zeros,
                                                                  NULL, NULL, NULL, NULL, NULL, &y, NULL, NULL, 0,
                                                                  NULL, NULL, NULL, 0.0f, 0, 1, small_scratch),
           EP_ERR_ARG);
    lens_v[0] = 3;
    expect("qlstm length past seq", ep_dynamicquantizelstm(&x, &wt, &sum, &scale, &rt, &sum, &scale, zeros, NULL,
                                                           &lens, NULL, NULL, NULL, &y, NULL, NULL, 0, NULL, NULL,
                                                           NULL, 0.0f, 0, 1, small_scratch), EP_ERR_ARG);
    expect("qlstm Y too small", ep_dynamicquantizelstm(&x, &wt, &sum, &scale, &rt, &sum, &scale, zeros, NULL, NULL,
                                                       NULL, NULL, NULL, &y_small, NULL, NULL, 0, NULL, NULL, NULL,
                                                       0.0f, 0, 1, small_scratch), EP_ERR_SHAPE);
    expect("qlstm without scratch", ep_dynamicquantizelstm(&x, &wt, &sum, &scale, &rt, &sum, &scale, zeros, NULL,
                                                           NULL, NULL, NULL, NULL, &y, NULL, NULL, 0, NULL, NULL,
                                                           NULL, 0.0f, 0, 1, NULL), EP_ERR_ARG);
    idx[0] = 1;
    idx[1] = -2;
    expect("gather of bytes valid", ep_gather(&b23, &ind, &b22, 1), EP_OK);
    expect("gather of bytes into floats", ep_gather(&b23, &ind, &f23, 1), EP_ERR_DTYPE);
    idx[1] = 3;
    expect("gather of bytes index past the axis", ep_gather(&b23, &ind, &b22, 1), EP_ERR_SHAPE);
    expect("expand valid", ep_expand(&b3, &b23), EP_OK);
    expect("expand not a broadcast", ep_expand(&b23, &b32), EP_ERR_SHAPE);
    expect("expand to a lower rank", ep_expand(&b23, &b6), EP_ERR_SHAPE);
    expect("expand into floats", ep_expand(&b3, &f23), EP_ERR_DTYPE);
    expect("argmax valid", ep_argmax(&b23, &am, 1, 0, 0), EP_OK);
    expect("argmax axis out of range", ep_argmax(&b23, &am, 2, 0, 0), EP_ERR_ARG);
    expect("argmax output of 6", ep_argmax(&b23, &b6, 1, 0, 0), EP_ERR_DTYPE);
    expect("argmax select_last 2", ep_argmax(&b23, &am, 1, 2, 0), EP_ERR_ARG);
    expect("argmax wrong count", ep_argmax(&b23, &am, 0, 0, 0), EP_ERR_SHAPE);
    expect("where valid", ep_where(&c3, &b3, &b23, &b23), EP_OK);
    expect("where float condition", ep_where(&b3, &b3, &b23, &b23), EP_ERR_DTYPE);
    expect("where mixed types", ep_where(&c3, &f23, &b23, &b23), EP_ERR_DTYPE);
    expect("where output not the broadcast", ep_where(&c3, &b3, &b3, &b23), EP_ERR_SHAPE);
    expect("where not broadcastable", ep_where(&c3, &b32, &b3, &b32), EP_ERR_SHAPE);
}

int main(void)
{
    select_and_qlstm_cases();
    bool_cases();
    conv_cases();
    pool_cases();
    batchnorm_cases();
    shape_lie_cases();
    nan_cases();
    edge_op_cases();
    quant_cases();
    rnn_cases();
    printf("%s\n", failures ? "guards FAILED" : "guards OK");
    return failures != 0;
}
