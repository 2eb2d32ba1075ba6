/* Native float32 kernels of the CPU provider: declarations and the element functions they share.
 *
 * Portable C99, vectorised by the compiler (-O3). On x86-64 glibc systems with GCC every entry point is
 * compiled three times (AVX-512, AVX2+FMA, baseline) and the loader picks the best clone for the
 * running CPU (target_clones), so one build serves any x86-64 machine. No Python API in here.
 */
#ifndef EP_NATIVE_H
#define EP_NATIVE_H

#include <stdint.h>
#include <string.h>

/* target_clones needs GCC >= 11 (the x86-64-v* levels), x86-64 and the loader's ifunc support
 * (glibc; musl has none) */
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 11 && defined(__x86_64__) && defined(__GLIBC__) && \
    !defined(EP_NO_CLONES)
#define EP_DISPATCH __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define EP_DISPATCH
#endif

#if defined(__GNUC__)
#define EP_INLINE static inline __attribute__((always_inline))
#else
#define EP_INLINE static inline
#endif

/* Activation codes shared by ep_activation_f32 and the convolution epilogue. */
enum {
    EP_ACT_NONE = 0,
    EP_ACT_RELU = 1,
    EP_ACT_LEAKY_RELU = 2, /* alpha */
    EP_ACT_CLIP = 3,       /* alpha = lower bound, beta = upper bound (-inf / inf when absent) */
    EP_ACT_HARD_SIGMOID = 4, /* alpha, beta */
    EP_ACT_HARD_SWISH = 5,
    EP_ACT_SIGMOID = 6,
    EP_ACT_TANH = 7,
    EP_ACT_SWISH = 8,      /* x * sigmoid(alpha * x) */
    EP_ACT_GELU = 9,       /* erf form */
    EP_ACT_GELU_TANH = 10,
    EP_ACT_COUNT = 11
};

/* Pooling modes of ep_pool2d_f32 and ep_global_pool_f32. */
enum { EP_POOL_MAX = 0, EP_POOL_AVG = 1, EP_POOL_AVG_INCLUDE_PAD = 2 };

/* Every kernel takes `threads` last: the most threads it may use (the session's intra-op thread
 * count; 1 or less: the calling thread only). Results do not depend on it. */
int ep_native_abi_version(void);
int ep_activation_f32(const float *x, float *y, int64_t n, int kind, float alpha, float beta, int64_t threads);
int ep_conv2d_direct_f32(const float *x, const float *w, const float *bias, const float *residual, float *y,
                         int64_t n, int64_t c, int64_t h, int64_t wd, int64_t m, int64_t group,
                         int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t dh, int64_t dw,
                         int64_t pt, int64_t pl, int64_t ho, int64_t wo, int act, float alpha, float beta,
                         int64_t threads);
int ep_pool2d_f32(const float *x, float *y, int64_t planes, int64_t h, int64_t w, int64_t kh, int64_t kw,
                  int64_t sh, int64_t sw, int64_t dh, int64_t dw, int64_t pt, int64_t pl, int64_t pb, int64_t pr,
                  int64_t ho, int64_t wo, int mode, int64_t threads);
int ep_global_pool_f32(const float *x, float *y, int64_t planes, int64_t size, int mode, int64_t threads);
/* geo: d h w, kd kh kw, sd sh sw, dd dh dw, start pads (3), end pads (3), od ho wo */
int ep_pool3d_f32(const float *x, float *y, int64_t planes, const int64_t *geo, int mode, int64_t threads);
int64_t ep_sgemm_packed_size(int64_t groups, int64_t m, int64_t k);
int ep_sgemm_pack_a_f32(const float *a, int64_t groups, int64_t m, int64_t k, float *ap);
int ep_sgemm_force_kernel(int level);
int64_t ep_sgemm_nr(void);
int64_t ep_sgemm_packed_b_size(int64_t groups, int64_t m, int64_t k, int64_t nr);
int ep_sgemm_pack_b_f32(const float *a, int64_t groups, int64_t m, int64_t k, int64_t nr, float *bp);
int ep_conv2d_gemm_f32(const float *x, const float *ap, int64_t weights_nr, const float *bias, const float *residual,
                       float *y, const int64_t *shape, int act, float alpha, float beta, int64_t threads);
int ep_sgemm_pack_b_rows_f32(const float *b, int64_t k, int64_t n, int64_t nr, float *bp);
int ep_sgemm_f32(const float *a, const float *bp, int64_t nr, const float *bias, float *c, int64_t m, int64_t n,
                 int64_t k, int64_t threads);
int ep_softmax_f32(const float *x, float *y, int64_t outer, int64_t n, int64_t inner, int log_softmax,
                   int64_t threads);
/* integer GEMM and helpers of the quantized operators (qgemm.c) */
int ep_qgemm_u8s8(const uint8_t *u, int64_t ldu, const int8_t *s, int64_t m, int64_t n, int64_t k, int64_t kp,
                  const int32_t *usum, const int32_t *ssum, const int32_t *uzero, int64_t uzero_step,
                  const int32_t *szero, int64_t szero_step, void *c, int64_t ldc, const float *mult,
                  const float *bias, int64_t threads);
int ep_qgemm_force_kernel(int level);
int ep_qpack_panels(const int8_t *rows, int64_t n, int64_t k, int64_t ld, int64_t kp, int8_t *panels, int32_t *sums,
                    int64_t threads);
int ep_qrow_sums(const void *x, int64_t rows, int64_t k, int64_t ld, int is_signed, int32_t *sums, int64_t threads);
int ep_qpad_hwc(const uint8_t *x, uint8_t *dst, int64_t c, int64_t h, int64_t w, int64_t pt, int64_t pl, int64_t eh,
                int64_t ew, int flip, int pad, int64_t threads);
int ep_qconv_panels(const uint8_t *hwc, int8_t *panels, int32_t *sums, int64_t c, int64_t ew, int64_t c0, int64_t cg,
                    int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t dh, int64_t dw, int64_t ho, int64_t wo,
                    int64_t kp, int64_t threads);
int ep_dynamic_quantize_u8(const float *x, int64_t n, uint8_t *y, float *scale_out, uint8_t *zero_out,
                           int64_t threads);
int ep_dynamic_quantize_params(const float *x, int64_t n, float *scale_out, uint8_t *zero_out, int64_t threads);
void ep_dynamic_quantize_with(const float *x, int64_t n, uint8_t *y, float scale, uint8_t zero);
/* a float-output integer matmul with a constant B: [quantize A,] row sums, multipliers, GEMM (qmatmul.c) */
int ep_qmatmul_f32(const float *xf, const uint8_t *xq, float x_scale, int32_t x_zero, int64_t m, int64_t k,
                   const int8_t *panels, const int32_t *ssum, const int32_t *szero, int64_t szero_step, int64_t n,
                   const float *b_scale, const float *bias, float *y, int64_t threads);
/* Resize over the last two axes from the numpy kernel's tap tables (resize.c) */
#define EP_RESIZE_MAX_TAPS 16
#define EP_RESIZE_UNCOVERED 1 /* returned for geometry or tables the C code does not take */
/* one Resize of [planes, in_h, in_w] to [planes, out_h, out_w]: per resized axis `taps` input indices and
 * weights (NULL: nearest) per output position; NULL indices: the axis is not resized; rows_first: the rows
 * axis is resampled first (the numpy kernel's order) */
typedef struct {
    int64_t planes, in_h, in_w, out_h, out_w, taps_h, taps_w, rows_first;
    const int64_t *idx_h;
    const float *w_h;
    const int64_t *idx_w;
    const float *w_w;
} ep_resize_plan;
int ep_resize_f32(const float *x, float *y, const ep_resize_plan *plan, int64_t threads);
/* LayerNormalization (and its skip / RMS forms) over rows, and the per-channel affine map (norm.c) */
int ep_layer_norm_f32(const float *x, const float *skip, int64_t skip_rows, const float *bias, const float *gamma,
                      const float *beta, float *y, float *sum, float *mean, float *inv, int64_t rows, int64_t n,
                      float epsilon, int simplified, int64_t threads);
int ep_channel_affine_f32(const float *x, const float *a, const float *b, float *y, int64_t outer, int64_t channels,
                          int64_t inner, int relu, int64_t threads);
/* LSTM recurrences, one direction a call (rnn.c) */
int ep_lstm_f32(const float *xw, const float *r, const float *p, const float *h0, const float *c0, const int64_t *lens,
                float *y, float *h_out, float *c_out, int64_t seq, int64_t batch, int64_t n, const int32_t *acts,
                const float *alpha, const float *beta, float clip, int64_t has_clip, int64_t input_forget,
                int64_t threads);
int ep_lstm_x_f32(const float *x, int64_t k, int64_t reverse, const float *wt, const float *bias, const float *r,
                  const float *p, const float *h0, const float *c0, float *y, float *h_out, float *c_out, int64_t seq,
                  int64_t batch, int64_t n, const int32_t *acts, const float *alpha, const float *beta, float clip,
                  int64_t has_clip, int64_t input_forget, int64_t threads);
int64_t ep_qlstm_packed_size(int64_t cols, int64_t k);
int ep_qlstm_pack(const int8_t *w, int64_t cols, int64_t k, int8_t *packed);
int ep_qlstm_project_f32(const float *x, int64_t rows, int64_t k, float x_scale, int32_t x_zero, const int8_t *w,
                         const int8_t *w_packed, const int32_t *w_sums, int32_t w_zero, int64_t cols,
                         const float *scale, float *y, int64_t threads);
int ep_qlstm_f32(const float *xw, const int8_t *r, const int8_t *r_packed, const int32_t *r_sums, int32_t r_zero,
                 const float *r_scale, const float *bias, const float *p, const float *h0, const float *c0, const int64_t *lens,
                 int64_t zero_finished, float *y, float *h_out, float *c_out, int64_t seq, int64_t batch, int64_t n,
                 const int32_t *acts, const float *alpha, const float *beta, float clip, int64_t has_clip,
                 int64_t input_forget, int64_t threads);

/* ------------------------------------------------------------------ the thread pool (parallel.c) */

/* the most threads one kernel call uses, whatever it is asked for */
#define EP_MAX_THREADS 256

/* one part of a kernel call: returns 0, or an error code the call reports */
typedef int (*ep_part_fn)(void *ctx, int64_t part);
int ep_parallel_for(int64_t threads, int64_t parts, ep_part_fn fn, void *ctx);
int64_t ep_parts_for(int64_t threads, int64_t work, int64_t grain);
int64_t ep_parts_from(int64_t threads, int64_t work, int64_t grain, int64_t least);
int64_t ep_pool_workers(void);
int64_t ep_pool_jobs(void);

/* [*begin, *end): part `part` of `parts` near-equal runs of 0 <= i < total, each a multiple of
 * `align` long except the last */
EP_INLINE void ep_part_range(int64_t total, int64_t parts, int64_t part, int64_t align, int64_t *begin,
                             int64_t *end) {
    const int64_t units = (total + align - 1) / align;
    const int64_t b = units * part / parts * align, e = units * (part + 1) / parts * align;
    *begin = b < total ? b : total;
    *end = e < total ? e : total;
}

/* Whether count * a * b floats fit in memory arithmetic (no size_t overflow); all positive. */
EP_INLINE int ep_sizes_fit(int64_t count, int64_t a, int64_t b) {
    const double limit = 9.0e15; /* far below SIZE_MAX / sizeof(float) and exact in a double */
    return count > 0 && a > 0 && b > 0 && (double)count * (double)a * (double)b < limit;
}

/* ------------------------------------------------------------------ element functions
 * Written with selects instead of fminf/fmaxf so that a NaN input gives a NaN output (as numpy's
 * maximum/minimum/clip do) and so that the loops vectorise without -ffast-math. */

EP_INLINE float ep_bits_to_float(int32_t i) { float f; memcpy(&f, &i, sizeof f); return f; }

/* e^(v - fn ln 2) for fn = round(v / ln 2): the Cody-Waite reduction by ln 2 (in two parts) and the
 * degree-5 polynomial that ep_expf and the softmax's exponential share; the caller scales by 2^fn. */
EP_INLINE float ep_exp_reduced(float v, float fn) {
    float r = v - fn * 0.693359375f;
    r = r - fn * -2.12194440e-4f;
    float p = 1.9875691500E-4f;
    p = p * r + 1.3981999507E-3f;
    p = p * r + 8.3334519073E-3f;
    p = p * r + 4.1665795894E-2f;
    p = p * r + 1.6666665459E-1f;
    p = p * r + 5.0000001201E-1f;
    return p * r * r + r + 1.0f;
}

/* exp(x) to about 2 ulp: Cody-Waite reduction by ln 2, degree-5 polynomial, 2^n from the exponent
 * bits. 0 below -87.3 (no denormal results) and saturates to about 3.4e38 above 88.7; NaN stays NaN. */
EP_INLINE float ep_expf(float x) {
    float v = x > 88.3762626647949f ? 88.3762626647949f : x;
    v = v < -87.3365478515625f ? -87.3365478515625f : v;
    /* round to nearest with the 1.5 * 2^23 trick (vectorises without SSE4.1's roundps) */
    float fn = (v * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    fn = fn == fn ? fn : 0.0f; /* NaN: keep the integer conversion defined; the result is NaN anyway */
    float p = ep_exp_reduced(v, fn);
    int32_t n = (int32_t)fn;
    float r2 = p * ep_bits_to_float((n + 127) << 23);
    return x < -87.3365478515625f ? 0.0f : r2;
}

/* 1 / (1 + e^-x): relative error about 1.5e-7 everywhere (ep_expf is relative-accurate at both ends and
 * saturates instead of overflowing); 0 below -87.3, where e^x is below the normal floats, as ep_expf
 * gives; NaN stays NaN. One exp, one division and one select. */
EP_INLINE float ep_sigmoidf(float x) {
    float s = 1.0f / (1.0f + ep_expf(-x));
    return x < -87.3365478515625f ? 0.0f : s;
}

/* tanh(x) as x P(x^2) / Q(x^2) on [-7.9, 7.9] (Eigen's rational approximation, about 2 ulp), +-1
 * beyond; one division, no exp. NaN stays NaN. */
EP_INLINE float ep_tanhf(float x) {
    const float bound = 7.90531110763549805f;
    float v = x > bound ? bound : x;
    v = v < -bound ? -bound : v;
    float z = v * v;
    float p = -2.76076847742355e-16f;
    p = p * z + 2.00018790482477e-13f;
    p = p * z - 8.60467152213735e-11f;
    p = p * z + 5.12229709037114e-08f;
    p = p * z + 1.48572235717979e-05f;
    p = p * z + 6.37261928875436e-04f;
    p = p * z + 4.89352455891786e-03f;
    float q = 1.19825839466702e-06f;
    q = q * z + 1.18534705686654e-04f;
    q = q * z + 2.26843463243900e-03f;
    q = q * z + 4.89352518554385e-03f;
    float r = v * p / q;
    float ax = x < 0.0f ? -x : x;
    return ax < 0.0004f ? x : r; /* tiny |x|: tanh x = x in float; keeps -0 and NaN */
}

/* GELU, erf form: 0.5 x (1 + erf(x / sqrt 2)) with erf by Abramowitz & Stegun 7.1.26 (|error| <
 * 1.5e-7, the formula of the numpy reference). A&S gives 1 - erf(z) = q(z) for z >= 0 directly, so
 * 1 + erf(x / sqrt 2) is q for x < 0 and 2 - q otherwise: no cancellation for negative x. */
EP_INLINE float ep_gelu_erff(float x) {
    float z = (x < 0.0f ? -x : x) * 0.70710678118654752f;
    float t = 1.0f / (1.0f + 0.3275911f * z);
    float poly = t * (0.254829592f + t * (-0.284496736f + t * (1.421413741f + t * (-1.453152027f + t * 1.061405429f))));
    float q = poly * ep_expf(-z * z);
    float r = 0.5f * x * (x < 0.0f ? q : 2.0f - q);
    return x == x ? r : x;
}

EP_INLINE float ep_clampf(float v, float lo, float hi) {
    v = v < lo ? lo : v;
    return v > hi ? hi : v;
}

EP_INLINE float ep_act(float v, int kind, float alpha, float beta) {
    switch (kind) {
    case EP_ACT_RELU: return v < 0.0f ? 0.0f : v;
    case EP_ACT_LEAKY_RELU: return v >= 0.0f ? v : v * alpha;
    case EP_ACT_CLIP: return ep_clampf(v, alpha, beta);
    case EP_ACT_HARD_SIGMOID: return ep_clampf(v * alpha + beta, 0.0f, 1.0f);
    case EP_ACT_HARD_SWISH: return v * ep_clampf(v * (1.0f / 6.0f) + 0.5f, 0.0f, 1.0f);
    case EP_ACT_SIGMOID: return ep_sigmoidf(v);
    case EP_ACT_TANH: return ep_tanhf(v);
    case EP_ACT_SWISH: return v * ep_sigmoidf(alpha * v);
    case EP_ACT_GELU: return ep_gelu_erff(v);
    /* 0.5 v (1 + tanh(u)) = v * sigmoid(2u), which has no cancellation near -1 */
    case EP_ACT_GELU_TANH: return v * ep_sigmoidf(1.5957691216057308f * (v + 0.044715f * v * v * v));
    default: return v;
    }
}

/* y[i] = act(x[i]) for i < n; x and y may be the same array. Inline so that each caller's loop,
 * with `kind` fixed per case, vectorises. */
EP_INLINE void ep_act_run(const float *x, float *y, int64_t n, int kind, float alpha, float beta) {
#define EP_ACT_LOOP(K) for (int64_t i = 0; i < n; i++) y[i] = ep_act(x[i], K, alpha, beta); break
    switch (kind) {
    case EP_ACT_RELU: EP_ACT_LOOP(EP_ACT_RELU);
    case EP_ACT_LEAKY_RELU: EP_ACT_LOOP(EP_ACT_LEAKY_RELU);
    case EP_ACT_CLIP: EP_ACT_LOOP(EP_ACT_CLIP);
    case EP_ACT_HARD_SIGMOID: EP_ACT_LOOP(EP_ACT_HARD_SIGMOID);
    case EP_ACT_HARD_SWISH: EP_ACT_LOOP(EP_ACT_HARD_SWISH);
    case EP_ACT_SIGMOID: EP_ACT_LOOP(EP_ACT_SIGMOID);
    case EP_ACT_TANH: EP_ACT_LOOP(EP_ACT_TANH);
    case EP_ACT_SWISH: EP_ACT_LOOP(EP_ACT_SWISH);
    case EP_ACT_GELU: EP_ACT_LOOP(EP_ACT_GELU);
    case EP_ACT_GELU_TANH: EP_ACT_LOOP(EP_ACT_GELU_TANH);
    default:
        if (x != y) memmove(y, x, (size_t)n * sizeof *y);
        break;
    }
#undef EP_ACT_LOOP
}

#endif
