/* Row normalizations and the per-channel affine map of float32 tensors.
 *
 * ep_layer_norm_f32: LayerNormalization over rows of n values, with the com.microsoft skip forms:
 * s = x + skip + bias (skip and bias optional), then (s - mean) / sqrt(var + eps) * gamma + beta, or
 * with `simplified` the RMS form s / sqrt(mean(s^2) + eps) * gamma. One call reads each row once into
 * the output (s), sums it, and rescales it in place: two passes over a row that stays in L1, against
 * the numpy kernel's eight full-tensor passes and temporaries. Sums are taken in double, so the
 * statistics are at least as accurate as numpy's float32 pairwise sums.
 *
 * ep_channel_affine_f32: y = x * a[c] + b[c] over [outer, channels, inner] (a channel count of 1: one
 * scale and shift for everything), then an optional Relu: the CPU fusion's FusedAffine in one pass
 * instead of numpy's two broadcast passes.
 *
 * NaN propagates: a NaN in a row makes its statistics, hence the whole output row, NaN, as numpy gives;
 * the Relu is a select (NaN stays NaN).
 */
#include <math.h>
#include <stdlib.h>

#include "ep_native.h"

/* element operations a thread takes at least */
#define EP_NORM_GRAIN (1 << 15)
/* element operations below which a call runs on one thread (a transformer's [128, 512] LayerNorms ran
 * slower on two threads than on one) */
#define EP_NORM_LEAST (1 << 20)

typedef struct {
    const float *x, *skip, *bias, *gamma, *beta;
    float *y, *sum, *mean, *inv;
    int64_t rows, n, skip_rows, parts;
    float epsilon;
    int simplified;
} layer_norm_job;

/* the sum of y[i] (squares: of (y[i] - center)^2) in double, in 16 independent lanes so that it
 * vectorises without reassociating one chain (no -ffast-math) */
EP_INLINE double lane_sum(const float *y, int64_t n, double center, int squares) {
    enum { L = 16 };
    double acc[L];
    for (int k = 0; k < L; k++) acc[k] = 0.0;
    int64_t i = 0;
    if (squares) {
        for (; i + L <= n; i += L) {
#pragma GCC unroll 1
            for (int k = 0; k < L; k++) {
                const double d = (double)y[i + k] - center;
                acc[k] += d * d;
            }
        }
    } else {
        for (; i + L <= n; i += L) {
#pragma GCC unroll 1
            for (int k = 0; k < L; k++) acc[k] += (double)y[i + k];
        }
    }
    for (int w = L / 2; w > 0; w /= 2)
        for (int k = 0; k < w; k++) acc[k] += acc[k + w];
    double s = acc[0];
    for (; i < n; i++) {
        const double d = (double)y[i] - center;
        s += squares ? d * d : (double)y[i];
    }
    return s;
}

/* one row: s written to y (and to sum when asked), then y rescaled in place */
EP_INLINE void layer_norm_row(const layer_norm_job *j, int64_t r) {
    const int64_t n = j->n;
    const float *x = j->x + r * n;
    float *y = j->y + r * n;
    const float *skip = j->skip != NULL ? j->skip + (r % j->skip_rows) * n : NULL;
    if (skip != NULL && j->bias != NULL) {
        for (int64_t i = 0; i < n; i++) y[i] = (x[i] + skip[i]) + j->bias[i];
    } else if (skip != NULL) {
        for (int64_t i = 0; i < n; i++) y[i] = x[i] + skip[i];
    } else if (j->bias != NULL) {
        for (int64_t i = 0; i < n; i++) y[i] = x[i] + j->bias[i];
    } else {
        for (int64_t i = 0; i < n; i++) y[i] = x[i];
    }
    if (j->sum != NULL) memcpy(j->sum + r * n, y, (size_t)n * sizeof(float));
    const double mean = j->simplified ? 0.0 : lane_sum(y, n, 0.0, 0) / (double)n;
    const float m = (float)mean;
    const double squares = lane_sum(y, n, mean, 1);
    const float inv = (float)(1.0 / sqrt(squares / (double)n + (double)j->epsilon));
    if (j->mean != NULL) j->mean[r] = m;
    if (j->inv != NULL) j->inv[r] = inv;
    const float *g = j->gamma;
    if (j->beta != NULL) {
        const float *b = j->beta;
        for (int64_t i = 0; i < n; i++) y[i] = (y[i] - m) * inv * g[i] + b[i];
    } else {
        for (int64_t i = 0; i < n; i++) y[i] = (y[i] - m) * inv * g[i];
    }
}

EP_DISPATCH
static int layer_norm_part(void *ctx, int64_t part) {
    const layer_norm_job *j = (const layer_norm_job *)ctx;
    int64_t b, e;
    ep_part_range(j->rows, j->parts, part, 1, &b, &e);
    for (int64_t r = b; r < e; r++) layer_norm_row(j, r);
    return 0;
}

/* LayerNormalization (simplified: RMS normalization, mean 0) of `rows` rows of n floats, as described
 * above. skip (skip_rows rows, row r reading skip row r % skip_rows), bias (n), beta (n), sum (rows x n),
 * mean and inv (rows) may be NULL; gamma (n) may not. y must not overlap the inputs. Returns 0, or -1
 * for sizes the C code does not take. */
EP_DISPATCH
int ep_layer_norm_f32(const float *x, const float *skip, int64_t skip_rows, const float *bias, const float *gamma,
                      const float *beta, float *y, float *sum, float *mean, float *inv, int64_t rows, int64_t n,
                      float epsilon, int simplified, int64_t threads) {
    if (rows <= 0) return 0;
    if (!ep_sizes_fit(rows, n, 1) || gamma == NULL || (skip != NULL && (skip_rows <= 0 || rows % skip_rows != 0)))
        return -1;
    layer_norm_job j = {x, skip, bias, gamma, beta, y, sum, mean, inv, rows, n, skip_rows, 1, epsilon, simplified};
    const int64_t parts = ep_parts_from(threads, rows * n * 4, EP_NORM_GRAIN, EP_NORM_LEAST);
    j.parts = parts < rows ? parts : rows;
    if (j.parts <= 1) return layer_norm_part(&j, 0);
    return ep_parallel_for(threads, j.parts, layer_norm_part, &j);
}

typedef struct {
    const float *x, *a, *b;
    float *y;
    int64_t planes, channels, inner, parts;
    int relu;
} affine_job;

/* y[i] = x[i] * a + b (then Relu) over one run of a plane */
EP_INLINE void affine_run(const float *restrict x, float *restrict y, int64_t n, float a, float b, int relu) {
    if (relu) {
        for (int64_t i = 0; i < n; i++) {
            const float v = x[i] * a + b;
            y[i] = v < 0.0f ? 0.0f : v;
        }
    } else {
        for (int64_t i = 0; i < n; i++) y[i] = x[i] * a + b;
    }
}

EP_DISPATCH
static int affine_part(void *ctx, int64_t part) {
    const affine_job *j = (const affine_job *)ctx;
    int64_t b, e;
    ep_part_range(j->planes * j->inner, j->parts, part, 64, &b, &e);
    while (b < e) {
        const int64_t plane = b / j->inner;
        const int64_t stop = (plane + 1) * j->inner < e ? (plane + 1) * j->inner : e;
        const int64_t c = plane % j->channels;
        affine_run(j->x + b, j->y + b, stop - b, j->a[c], j->b[c], j->relu);
        b = stop;
    }
    return 0;
}

/* y = x * a[c] + b[c] (relu != 0: then max(., 0)) over x seen as [outer, channels, inner]; a and b hold
 * `channels` floats. y must not overlap x. Returns 0, or -1 for sizes the C code does not take. */
EP_DISPATCH
int ep_channel_affine_f32(const float *x, const float *a, const float *b, float *y, int64_t outer, int64_t channels,
                          int64_t inner, int relu, int64_t threads) {
    if (outer <= 0 || channels <= 0 || inner <= 0) return 0;
    if (!ep_sizes_fit(outer, channels, inner)) return -1;
    affine_job j = {x, a, b, y, outer * channels, channels, inner, 1, relu};
    const int64_t total = outer * channels * inner;
    const int64_t parts = ep_parts_from(threads, total, EP_NORM_GRAIN * 4, EP_NORM_LEAST);
    j.parts = parts < (total + 63) / 64 ? parts : (total + 63) / 64;
    if (j.parts <= 1) return affine_part(&j, 0);
    return ep_parallel_for(threads, j.parts, affine_part, &j);
}
