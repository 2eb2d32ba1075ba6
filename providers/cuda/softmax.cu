// Softmax and LogSoftmax along the last axis of a (rows, n) float32 matrix: one block per row
// (block-stride over rows), max and sum reduced in shared memory (blockDim.x a power of two,
// blockDim.x floats of dynamic shared memory).

#include "grid.cuh"

__device__ float block_reduce(float v, float* buf, bool take_max) {
    buf[threadIdx.x] = v;
    __syncthreads();
    for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) {
            const float o = buf[threadIdx.x + s];
            buf[threadIdx.x] = take_max ? fmaxf(buf[threadIdx.x], o) : buf[threadIdx.x] + o;
        }
        __syncthreads();
    }
    const float r = buf[0];
    __syncthreads();
    return r;
}

extern "C" __global__ void softmax_rows(const float* __restrict__ x, float* __restrict__ y,
                                        i64 rows, i64 n, int log_softmax) {
    extern __shared__ float buf[];
    for (i64 row = blockIdx.x; row < rows; row += gridDim.x) {
        const float* xr = x + row * n;
        float* yr = y + row * n;
        float m = -INFINITY;
        for (i64 j = threadIdx.x; j < n; j += blockDim.x) m = fmaxf(m, xr[j]);
        m = block_reduce(m, buf, true);
        float s = 0.0f;
        for (i64 j = threadIdx.x; j < n; j += blockDim.x) s += expf(xr[j] - m);
        s = block_reduce(s, buf, false);
        if (log_softmax) {
            const float ls = logf(s);
            for (i64 j = threadIdx.x; j < n; j += blockDim.x) yr[j] = xr[j] - m - ls;
        } else {
            const float inv = 1.0f / s;
            for (i64 j = threadIdx.x; j < n; j += blockDim.x) yr[j] = expf(xr[j] - m) * inv;
        }
    }
}
