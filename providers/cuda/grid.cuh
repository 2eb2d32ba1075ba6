// What the raw kernels share: 64-bit sizes, the grid-stride loop that lets any grid cover any tensor,
// and where an output element of a (planes, oh, ow) result lies. Included by the .cu files (raw.py
// compiles them with this folder on the include path).
#pragma once

typedef long long i64;

// `i` runs over [0, total) across every thread of the grid.
#define GRID_STRIDE_LOOP(i, total) \
    for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < (total); i += (i64)blockDim.x * gridDim.x)

// Output element i of a (planes, oh, ow) result over (planes, h, w) float32 input planes: its column and
// row, and the first input element of its plane.
struct Pixel {
    i64 x, y;
    const float* plane;
};

__device__ inline Pixel pixel_of(i64 i, const float* x, i64 h, i64 w, i64 oh, i64 ow) {
    return Pixel{i % ow, (i / ow) % oh, x + (i / (ow * oh)) * h * w};
}
