// MaxPool and AveragePool over 1-D or 2-D windows (a 1-D pool is a 2-D one of height 1), float32.
// One thread per output element (grid-stride). (ph, pw) are the begin pads, (peh, pew) the end
// pads given by the node: AveragePool with count_include_pad counts taps inside the explicitly
// padded extent only (taps added by ceil_mode never count), as the ONNX reference does.

typedef long long i64;

extern "C" __global__ void max_pool_2d(const float* __restrict__ x, float* __restrict__ y,
                                       i64 planes, i64 h, i64 w, i64 kh, i64 kw, i64 sh, i64 sw,
                                       i64 dh, i64 dw, i64 ph, i64 pw, i64 peh, i64 pew,
                                       i64 oh, i64 ow, i64 include_pad) {
    const i64 total = planes * oh * ow;
    for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < total; i += (i64)blockDim.x * gridDim.x) {
        const i64 ox = i % ow;
        const i64 oy = (i / ow) % oh;
        const float* src = x + (i / (ow * oh)) * h * w;
        float best = -INFINITY;
        for (i64 ky = 0; ky < kh; ++ky) {
            const i64 iy = oy * sh - ph + ky * dh;
            if (iy < 0 || iy >= h) continue;
            for (i64 kx = 0; kx < kw; ++kx) {
                const i64 ix = ox * sw - pw + kx * dw;
                if (ix < 0 || ix >= w) continue;
                const float v = src[iy * w + ix];
                if (best == best && (v != v || v > best)) best = v;  // NaN propagates, as numpy's maximum
            }
        }
        y[i] = best;
    }
}

extern "C" __global__ void avg_pool_2d(const float* __restrict__ x, float* __restrict__ y,
                                       i64 planes, i64 h, i64 w, i64 kh, i64 kw, i64 sh, i64 sw,
                                       i64 dh, i64 dw, i64 ph, i64 pw, i64 peh, i64 pew,
                                       i64 oh, i64 ow, i64 include_pad) {
    const i64 total = planes * oh * ow;
    for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < total; i += (i64)blockDim.x * gridDim.x) {
        const i64 ox = i % ow;
        const i64 oy = (i / ow) % oh;
        const float* src = x + (i / (ow * oh)) * h * w;
        float sum = 0.0f;
        i64 cy = 0, cx = 0;
        for (i64 kx = 0; kx < kw; ++kx) {
            const i64 pos = ox * sw + kx * dw;  // in padded coordinates
            const i64 ix = pos - pw;
            cx += include_pad ? (pos < w + pw + pew) : (ix >= 0 && ix < w);
        }
        for (i64 ky = 0; ky < kh; ++ky) {
            const i64 pos = oy * sh + ky * dh;
            const i64 iy = pos - ph;
            cy += include_pad ? (pos < h + ph + peh) : (iy >= 0 && iy < h);
            if (iy < 0 || iy >= h) continue;
            for (i64 kx = 0; kx < kw; ++kx) {
                const i64 ix = ox * sw - pw + kx * dw;
                if (ix >= 0 && ix < w) sum += src[iy * w + ix];
            }
        }
        const i64 count = cy * cx;
        y[i] = sum / (float)(count > 0 ? count : 1);
    }
}
