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
#include "relu.h"
#include "softmax.h"
#include "sum.h"
#include "transpose.h"

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

int main(void)
{
    conv_cases();
    pool_cases();
    batchnorm_cases();
    shape_lie_cases();
    nan_cases();
    printf("%s\n", failures ? "guards FAILED" : "guards OK");
    return failures != 0;
}
