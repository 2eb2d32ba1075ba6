/* Softmax and LogSoftmax of float32 tensors along one axis.
 *
 * The tensor is seen as [outer, n, inner] with the axis in the middle. Rows (inner == 1) take four
 * passes over their n values, in L1: the maximum, exp(x - max) stored, their sum, then the scaling (or,
 * for LogSoftmax, x - max - log(sum)). With inner > 1 the same passes run over [n, inner] blocks, inner
 * columns at a time, so that every loop is over contiguous memory and vectorises.
 *
 * NaN: the maximum skips NaN, but a NaN value gives a NaN exponential, so its whole row's sum and
 * outputs are NaN, as numpy's reference gives. A row of -inf gives NaN (-inf - -inf), as numpy does.
 * exp is exp_nonpositive (about 2 ulp; 0 below -87.3, where numpy would give a denormal).
 */
#include <math.h>
#include <stdlib.h>

#include "ep_native.h"

/* output values a thread computes at least */
#define EP_SOFTMAX_GRAIN (1 << 15)
/* output values below which a call runs on one thread (128K: 56 us on one thread, 79 us on two) */
#define EP_SOFTMAX_LEAST (1 << 18)

/* exp(x) for x <= 0 (or NaN), the values a softmax exponentiates: ep_expf's reduction and polynomial
 * (about 2 ulp; 0 below -87.3, NaN stays NaN) without its overflow clamp, and with 2^n taken from the
 * rounding constant's bits rather than a float-to-int conversion, which vectorises to about half
 * the instructions. */
EP_INLINE float exp_nonpositive(float x) {
    const float v = x < -87.3365478515625f ? -87.3365478515625f : x;
    const float t = v * 1.44269504088896341f + 12582912.0f; /* 1.5 * 2^23 + round(v / ln 2) */
    const float fn = t - 12582912.0f;
    const float p = ep_exp_reduced(v, fn);
    uint32_t bits;
    memcpy(&bits, &t, sizeof bits);
    const uint32_t scale_bits = (bits - 0x4B400000u + 127u) << 23; /* (n + 127) << 23 for n in [-126, 0] */
    float scale;
    memcpy(&scale, &scale_bits, sizeof scale);
    const float e = p * scale;
    return x < -87.3365478515625f ? 0.0f : e;
}

/* the largest of the n values (NaN skipped; -inf when all are NaN or -inf) */
EP_INLINE float row_max(const float *x, int64_t n) {
    enum { L = 16 };
    float acc[L];
    for (int k = 0; k < L; k++) acc[k] = -INFINITY;
    int64_t i = 0;
    for (; i + L <= n; i += L) {
        /* one vector max a step (GCC leaves the 16 lanes scalar when it unrolls this loop) */
#pragma GCC unroll 1
        for (int k = 0; k < L; k++) {
            const float u = x[i + k], v = acc[k];
            acc[k] = u > v ? u : v;
        }
    }
    for (int w = L / 2; w > 0; w /= 2)
        for (int k = 0; k < w; k++) acc[k] = acc[k + w] > acc[k] ? acc[k + w] : acc[k];
    float m = acc[0];
    for (; i < n; i++) m = x[i] > m ? x[i] : m;
    return m;
}

/* the sum of n values, in 16 lanes */
EP_INLINE float row_sum(const float *y, int64_t n) {
    enum { L = 16 };
    float acc[L];
    for (int k = 0; k < L; k++) acc[k] = 0.0f;
    int64_t i = 0;
    for (; i + L <= n; i += L) {
#pragma GCC unroll 1
        for (int k = 0; k < L; k++) {
            const float u = y[i + k], v = acc[k];
            acc[k] = v + u;
        }
    }
    for (int w = L / 2; w > 0; w /= 2) /* pairwise: no 16-add dependency chain */
        for (int k = 0; k < w; k++) acc[k] += acc[k + w];
    float s = acc[0];
    for (; i < n; i++) s += y[i];
    return s;
}

/* Separate passes (max; exp; sum; scale) vectorise better than fused ones, and a row is in L1. */
EP_INLINE void softmax_row(const float *restrict x, float *restrict y, int64_t n, int log_softmax) {
    const float m = row_max(x, n);
    for (int64_t i = 0; i < n; i++) y[i] = exp_nonpositive(x[i] - m);
    const float s = row_sum(y, n);
    if (log_softmax) {
        const float ls = logf(s);
        for (int64_t i = 0; i < n; i++) y[i] = (x[i] - m) - ls;
        return;
    }
    const float inv = 1.0f / s;
    for (int64_t i = 0; i < n; i++) y[i] *= inv;
}

/* one [n, inner] block: scratch holds 2 * inner floats */
EP_INLINE void softmax_block(const float *x, float *y, int64_t n, int64_t inner, int log_softmax, float *scratch) {
    float *m = scratch, *s = scratch + inner;
    for (int64_t c = 0; c < inner; c++) {
        m[c] = -INFINITY;
        s[c] = 0.0f;
    }
    for (int64_t r = 0; r < n; r++) {
        const float *xr = x + r * inner;
        for (int64_t c = 0; c < inner; c++) m[c] = xr[c] > m[c] ? xr[c] : m[c];
    }
    for (int64_t r = 0; r < n; r++) {
        const float *xr = x + r * inner;
        float *yr = y + r * inner;
        for (int64_t c = 0; c < inner; c++) {
            const float e = exp_nonpositive(xr[c] - m[c]);
            s[c] += e;
            if (!log_softmax) yr[c] = e;
        }
    }
    if (log_softmax) {
        for (int64_t c = 0; c < inner; c++) s[c] = logf(s[c]);
        for (int64_t r = 0; r < n; r++) {
            const float *xr = x + r * inner;
            float *yr = y + r * inner;
            for (int64_t c = 0; c < inner; c++) yr[c] = (xr[c] - m[c]) - s[c];
        }
        return;
    }
    for (int64_t c = 0; c < inner; c++) s[c] = 1.0f / s[c];
    for (int64_t r = 0; r < n; r++) {
        float *yr = y + r * inner;
        for (int64_t c = 0; c < inner; c++) yr[c] *= s[c];
    }
}

typedef struct {
    const float *x;
    float *y;
    int64_t outer, n, inner, parts;
    int log_softmax;
} softmax_job;

EP_DISPATCH
static int softmax_part(void *ctx, int64_t part) {
    const softmax_job *j = (const softmax_job *)ctx;
    const int64_t block = j->n * j->inner;
    int64_t b, e;
    ep_part_range(j->outer, j->parts, part, 1, &b, &e);
    if (j->inner == 1) {
        for (int64_t o = b; o < e; o++) softmax_row(j->x + o * block, j->y + o * block, j->n, j->log_softmax);
        return 0;
    }
    float *scratch = (float *)malloc((size_t)j->inner * 2 * sizeof(float));
    if (scratch == NULL) return -1;
    for (int64_t o = b; o < e; o++)
        softmax_block(j->x + o * block, j->y + o * block, j->n, j->inner, j->log_softmax, scratch);
    free(scratch);
    return 0;
}

/* y = softmax (log_softmax != 0: log softmax) of x along the middle axis of [outer, n, inner];
 * x and y may not overlap. Returns 0, or -1 when scratch memory cannot be allocated. */
EP_DISPATCH
int ep_softmax_f32(const float *x, float *y, int64_t outer, int64_t n, int64_t inner, int log_softmax,
                   int64_t threads) {
    if (outer <= 0 || n <= 0 || inner <= 0) return 0;
    if (!ep_sizes_fit(outer, n, inner)) return -1;
    softmax_job j = {x, y, outer, n, inner, 1, log_softmax};
    const int64_t parts = ep_parts_from(threads, outer * n * inner, EP_SOFTMAX_GRAIN, EP_SOFTMAX_LEAST);
    j.parts = parts < outer ? parts : outer;
    if (j.parts <= 1) return softmax_part(&j, 0);
    return ep_parallel_for(threads, j.parts, softmax_part, &j);
}
