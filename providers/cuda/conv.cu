// Conv's im2col: columns for a 2-D sliding window (a 1-D conv is a 2-D one of height 1).
// cols is (N, C * KH * KW, OH * OW) row-major; padding reads as zero, no padded copy is made.
// Launched by conv.py through raw.py: one grid-stride loop over every element of cols.

#include "grid.cuh"

extern "C" __global__ void im2col_2d(const float* __restrict__ x, float* __restrict__ cols,
                                     i64 planes, i64 h, i64 w, i64 kh, i64 kw, i64 sh, i64 sw,
                                     i64 dh, i64 dw, i64 ph, i64 pw, i64 oh, i64 ow) {
    GRID_STRIDE_LOOP(i, planes * kh * kw * oh * ow) {
        i64 t = i;
        const i64 ox = t % ow; t /= ow;
        const i64 oy = t % oh; t /= oh;
        const i64 kx = t % kw; t /= kw;
        const i64 ky = t % kh;
        const i64 plane = t / kh;
        const i64 iy = oy * sh - ph + ky * dh;
        const i64 ix = ox * sw - pw + kx * dw;
        cols[i] = (iy >= 0 && iy < h && ix >= 0 && ix < w) ? x[(plane * h + iy) * w + ix] : 0.0f;
    }
}
