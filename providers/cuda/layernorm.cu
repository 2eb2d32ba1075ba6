// LayerNormalization over the last n elements of each row of a (rows, n) float32 matrix:
// y = (x - mean) / sqrt(var + eps) * scale + bias, scale and bias of n values (bias may be
// absent: has_bias 0). Also writes each row's mean and 1 / sqrt(var + eps). One block per row,
// two passes (mean, then centered sum of squares), reductions in shared memory.

#include "grid.cuh"

__device__ float block_sum(float v, float* buf) {
    buf[threadIdx.x] = v;
    __syncthreads();
    for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) buf[threadIdx.x] += buf[threadIdx.x + s];
        __syncthreads();
    }
    const float r = buf[0];
    __syncthreads();
    return r;
}

extern "C" __global__ void layer_norm_rows(const float* __restrict__ x, const float* __restrict__ scale,
                                           const float* __restrict__ bias, float* __restrict__ y,
                                           float* __restrict__ mean_out, float* __restrict__ inv_out,
                                           i64 rows, i64 n, float eps, int has_bias) {
    extern __shared__ float buf[];
    for (i64 row = blockIdx.x; row < rows; row += gridDim.x) {
        const float* xr = x + row * n;
        float* yr = y + row * n;
        float s = 0.0f;
        for (i64 j = threadIdx.x; j < n; j += blockDim.x) s += xr[j];
        const float mean = block_sum(s, buf) / (float)(n > 0 ? n : 1);
        float q = 0.0f;
        for (i64 j = threadIdx.x; j < n; j += blockDim.x) {
            const float d = xr[j] - mean;
            q += d * d;
        }
        const float inv = rsqrtf(block_sum(q, buf) / (float)(n > 0 ? n : 1) + eps);
        for (i64 j = threadIdx.x; j < n; j += blockDim.x) {
            const float v = (xr[j] - mean) * inv * scale[j];
            yr[j] = has_bias ? v + bias[j] : v;
        }
        if (threadIdx.x == 0) {
            mean_out[row] = mean;
            inv_out[row] = inv;
        }
    }
}
