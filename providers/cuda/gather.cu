// Gather along one axis, for any element type (the kernel moves elements of 1, 2, 4 or 8 bytes):
// x viewed as (outer, n, inner), indices flat (m values, negative ones counting from the end),
// y as (outer, m, inner). An index out of [-n, n) writes zero (the host checks indices first).

#include "grid.cuh"

template <typename T>
__device__ void gather_axis(const T* __restrict__ x, const i64* __restrict__ idx, T* __restrict__ y,
                            i64 outer, i64 n, i64 inner, i64 m) {
    GRID_STRIDE_LOOP(i, outer * m * inner) {
        const i64 k = i % inner;
        const i64 j = (i / inner) % m;
        const i64 o = i / (inner * m);
        i64 src = idx[j];
        if (src < 0) src += n;
        y[i] = (src >= 0 && src < n) ? x[(o * n + src) * inner + k] : T(0);
    }
}

extern "C" __global__ void gather_axis_1(const unsigned char* x, const i64* idx, unsigned char* y,
                                         i64 outer, i64 n, i64 inner, i64 m) {
    gather_axis(x, idx, y, outer, n, inner, m);
}

extern "C" __global__ void gather_axis_2(const unsigned short* x, const i64* idx, unsigned short* y,
                                         i64 outer, i64 n, i64 inner, i64 m) {
    gather_axis(x, idx, y, outer, n, inner, m);
}

extern "C" __global__ void gather_axis_4(const unsigned int* x, const i64* idx, unsigned int* y,
                                         i64 outer, i64 n, i64 inner, i64 m) {
    gather_axis(x, idx, y, outer, n, inner, m);
}

extern "C" __global__ void gather_axis_8(const unsigned long long* x, const i64* idx, unsigned long long* y,
                                         i64 outer, i64 n, i64 inner, i64 m) {
    gather_axis(x, idx, y, outer, n, inner, m);
}
