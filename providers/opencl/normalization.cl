// BatchNormalization (inference), LayerNormalization, LRN. Built with -DT=float (or half).

#ifdef USE_HALF
#pragma OPENCL EXTENSION cl_khr_fp16 : enable
#endif

// X viewed as (N, C, inner) on a 3-D grid (inner, C, N); per-channel statistics
__kernel void batch_norm(const int N, const int C, const int inner, const float eps, __global const T* X,
                         __global const T* scale, __global const T* bias, __global const T* mean,
                         __global const T* var, __global T* Y) {
    const int j = get_global_id(0), c = get_global_id(1), b = get_global_id(2);
    if (j >= inner || c >= C || b >= N) return;
    const long i = ((long)b * C + c) * inner + j;
    const float s = (float)scale[c] * rsqrt((float)var[c] + eps);
    Y[i] = (T)(((float)X[i] - (float)mean[c]) * s + (float)bias[c]);
}

// one work-item per row of X viewed as (rows, R); scale/bias strided (1, or 0 when broadcast)
__kernel void layer_norm(const int rows, const int R, const float eps, __global const T* X,
                         __global const T* scale, const int s_stride, __global const T* bias, const int b_stride,
                         const int has_bias, __global T* Y, __global float* Mean, __global float* InvStd,
                         const int want_stats) {
    const int i = get_global_id(0);
    if (i >= rows) return;
    __global const T* x = X + (long)i * R;
    float mean = 0.0f;
    for (int r = 0; r < R; ++r) mean += (float)x[r];
    mean /= (float)R;
    float var = 0.0f;
    for (int r = 0; r < R; ++r) { const float d = (float)x[r] - mean; var += d * d; }
    var /= (float)R;
    const float inv = rsqrt(var + eps);
    __global T* y = Y + (long)i * R;
    for (int r = 0; r < R; ++r) {
        float v = ((float)x[r] - mean) * inv * (float)scale[r * s_stride];
        if (has_bias) v += (float)bias[r * b_stride];
        y[r] = (T)v;
    }
    if (want_stats) { Mean[i] = mean; InvStd[i] = inv; }
}

// LRN across channels: X viewed as (N, C, inner)
__kernel void lrn(const int n, const int C, const int inner, const float alpha, const float beta, const float bias,
                  const int size, __global const T* X, __global T* Y) {
    const int i = get_global_id(0);
    if (i >= n) return;
    const int j = i % inner;
    const int c = (i / inner) % C;
    const int b = i / (inner * C);
    const int lo = max(0, c - (size - 1) / 2), hi = min(C - 1, c + (size - 1) - (size - 1) / 2);
    float s = 0.0f;
    for (int k = lo; k <= hi; ++k) {
        const float v = (float)X[((long)b * C + k) * inner + j];
        s += v * v;
    }
    Y[i] = (T)((float)X[i] * exp(-beta * log(bias + alpha / (float)size * s)));
}
