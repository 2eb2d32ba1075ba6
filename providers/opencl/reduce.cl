// Reductions over the middle axis of a (outer, R, inner) view: ReduceSum/Mean/Max/Min/...,
// GlobalAverage/MaxPool, Softmax, LogSoftmax. One work-item per (outer, inner) position, looping
// over R. Built with -DT=float (or half); accumulation in float.

#ifdef USE_HALF
#pragma OPENCL EXTENSION cl_khr_fp16 : enable
#endif

#define REDUCE(name, init, step, finish)                                                     \
__kernel void name(const int n, const int R, const int inner, __global const T* X, __global T* Y) { \
    const int i = get_global_id(0);                                                          \
    if (i >= n) return;                                                                      \
    const int o = i / inner, j = i - o * inner;                                              \
    __global const T* p = X + (long)o * R * inner + j;                                       \
    float acc = init;                                                                        \
    for (int r = 0; r < R; ++r) { const float v = (float)p[(long)r * inner]; step; }         \
    Y[i] = (T)(finish);                                                                      \
}

REDUCE(reduce_sum, 0.0f, acc += v, acc)
REDUCE(reduce_mean, 0.0f, acc += v, acc / (float)R)
REDUCE(reduce_max, -INFINITY, acc = (v > acc || isnan(v)) ? v : acc, acc)
REDUCE(reduce_min, INFINITY, acc = (v < acc || isnan(v)) ? v : acc, acc)
REDUCE(reduce_prod, 1.0f, acc *= v, acc)
REDUCE(reduce_l1, 0.0f, acc += fabs(v), acc)
REDUCE(reduce_l2, 0.0f, acc += v * v, sqrt(acc))
REDUCE(reduce_sum_square, 0.0f, acc += v * v, acc)
REDUCE(reduce_log_sum, 0.0f, acc += v, log(acc))

__kernel void reduce_log_sum_exp(const int n, const int R, const int inner, __global const T* X, __global T* Y) {
    const int i = get_global_id(0);
    if (i >= n) return;
    const int o = i / inner, j = i - o * inner;
    __global const T* p = X + (long)o * R * inner + j;
    float mx = -INFINITY;  // NaN once any element is NaN (fmax would skip it)
    for (int r = 0; r < R; ++r) { const float v = (float)p[(long)r * inner]; mx = (v > mx || isnan(v)) ? v : mx; }
    if (isinf(mx) || isnan(mx)) { Y[i] = (T)mx; return; }
    float s = 0.0f;
    for (int r = 0; r < R; ++r) s += exp((float)p[(long)r * inner] - mx);
    Y[i] = (T)(mx + log(s));
}

// Softmax (log_ = 0) or LogSoftmax (log_ = 1) along R
__kernel void softmax(const int n, const int R, const int inner, const int log_, __global const T* X,
                      __global T* Y) {
    const int i = get_global_id(0);
    if (i >= n) return;
    const int o = i / inner, j = i - o * inner;
    const long base = (long)o * R * inner + j;
    float mx = -INFINITY;
    for (int r = 0; r < R; ++r) { const float v = (float)X[base + (long)r * inner]; mx = (v > mx || isnan(v)) ? v : mx; }
    float s = 0.0f;
    for (int r = 0; r < R; ++r) s += exp((float)X[base + (long)r * inner] - mx);
    if (log_) {
        const float ls = log(s);
        for (int r = 0; r < R; ++r) Y[base + (long)r * inner] = (T)((float)X[base + (long)r * inner] - mx - ls);
    } else {
        const float inv = 1.0f / s;
        for (int r = 0; r < R; ++r) Y[base + (long)r * inner] = (T)(exp((float)X[base + (long)r * inner] - mx) * inv);
    }
}
