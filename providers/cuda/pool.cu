// MaxPool and AveragePool over 1-D or 2-D windows (a 1-D pool is a 2-D one of height 1), float32.
// One thread per output element (grid-stride). (ph, pw) are the begin pads, (peh, pew) the end
// pads given by the node: AveragePool with count_include_pad counts taps inside the explicitly
// padded extent only (taps added by ceil_mode never count), as the ONNX reference does.

#include "grid.cuh"

// The launch arguments of both pools (pool.py passes the same for either).
#define POOL_2D_ARGS                                                                                    \
    const float *__restrict__ x, float *__restrict__ y, i64 planes, i64 h, i64 w, i64 kh, i64 kw, i64 sh, \
        i64 sw, i64 dh, i64 dw, i64 ph, i64 pw, i64 peh, i64 pew, i64 oh, i64 ow, i64 include_pad

// Fold the input taps of output pixel p's window (those inside the input) with `fold(acc, v)`.
template <typename Fold>
__device__ inline float window_fold(const Pixel& p, i64 h, i64 w, i64 kh, i64 kw, i64 sh, i64 sw, i64 dh,
                                    i64 dw, i64 ph, i64 pw, float acc, Fold fold) {
    for (i64 ky = 0; ky < kh; ++ky) {
        const i64 iy = p.y * sh - ph + ky * dh;
        if (iy < 0 || iy >= h) continue;
        for (i64 kx = 0; kx < kw; ++kx) {
            const i64 ix = p.x * sw - pw + kx * dw;
            if (ix >= 0 && ix < w) acc = fold(acc, p.plane[iy * w + ix]);
        }
    }
    return acc;
}

// The taps of a window along one axis that AveragePool counts: inside the input, or with include_pad
// inside the explicitly padded extent (positions added by ceil_mode never count).
__device__ inline i64 counted_taps(i64 o, i64 k, i64 s, i64 d, i64 n, i64 pad_begin, i64 pad_end, i64 include_pad) {
    i64 count = 0;
    for (i64 t = 0; t < k; ++t) {
        const i64 pos = o * s + t * d;  // in padded coordinates
        count += include_pad ? (pos < n + pad_begin + pad_end) : (pos >= pad_begin && pos < n + pad_begin);
    }
    return count;
}

extern "C" __global__ void max_pool_2d(POOL_2D_ARGS) {
    GRID_STRIDE_LOOP(i, planes * oh * ow) {
        const Pixel p = pixel_of(i, x, h, w, oh, ow);
        y[i] = window_fold(p, h, w, kh, kw, sh, sw, dh, dw, ph, pw, -INFINITY, [](float best, float v) {
            return (best == best && (v != v || v > best)) ? v : best;  // NaN propagates, as numpy's maximum
        });
    }
}

extern "C" __global__ void avg_pool_2d(POOL_2D_ARGS) {
    GRID_STRIDE_LOOP(i, planes * oh * ow) {
        const Pixel p = pixel_of(i, x, h, w, oh, ow);
        const float sum = window_fold(p, h, w, kh, kw, sh, sw, dh, dw, ph, pw, 0.0f,
                                      [](float acc, float v) { return acc + v; });
        const i64 count = counted_taps(p.y, kh, sh, dh, h, ph, peh, include_pad) *
                          counted_taps(p.x, kw, sw, dw, w, pw, pew, include_pad);
        y[i] = sum / (float)(count > 0 ? count : 1);
    }
}
