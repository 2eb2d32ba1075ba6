// Resize of the last two axes of a (planes, h, w) float32 tensor by tap tables computed on the
// host: output (oy, ox) = sum over a < ty, b < tx of wy[oy, a] * wx[ox, b] * x[iy[oy, a], ix[ox, b]].
// Nearest is one tap of weight 1, linear two taps. One thread per output element (grid-stride).

#include "grid.cuh"

extern "C" __global__ void resize_2d_taps(const float* __restrict__ x, float* __restrict__ y,
                                          i64 planes, i64 h, i64 w, i64 oh, i64 ow,
                                          const i64* __restrict__ iy, const float* __restrict__ wy, i64 ty,
                                          const i64* __restrict__ ix, const float* __restrict__ wx, i64 tx) {
    GRID_STRIDE_LOOP(i, planes * oh * ow) {
        const Pixel p = pixel_of(i, x, h, w, oh, ow);
        float acc = 0.0f;
        for (i64 a = 0; a < ty; ++a) {
            const float* line = p.plane + iy[p.y * ty + a] * w;
            float row = 0.0f;
            for (i64 b = 0; b < tx; ++b) row += wx[p.x * tx + b] * line[ix[p.x * tx + b]];
            acc += wy[p.y * ty + a] * row;
        }
        y[i] = acc;
    }
}
