// MaxPool and AveragePool over 2-D windows (1-D pools run with H = 1), one work-item per output.
// Built with -DT=float (or half). Geometry (pads, output sizes, ceil mode) is computed on the host.
//
// AveragePool's divisor counts the window taps inside [lo, hi) per axis: the input itself, or with
// count_include_pad the input plus its explicit pads (never the extra end added by ceil_mode).

#ifdef USE_HALF
#pragma OPENCL EXTENSION cl_khr_fp16 : enable
#endif

#include "window.clh"

// The arguments both pools start with (pool.py passes them alike).
#define POOL_ARGS                                                                                         \
    const int total, __global const T *X, __global T *Y, const int H, const int W, const int OH,         \
        const int OW, const int KH, const int KW, const int sh, const int sw, const int ph, const int pw, \
        const int dh, const int dw

// The taps along one axis of the window at output position o that fall in [lo, hi) (input coordinates).
inline int counted_taps(const int o, const int k, const int s, const int d, const int pad, const int lo,
                        const int hi) {
    int count = 0;
    for (int t = 0; t < k; ++t) {
        const int at = o * s - pad + t * d;
        count += at >= lo && at < hi;
    }
    return count;
}

__kernel void max_pool(POOL_ARGS) {
    const int i = get_global_id(0);
    if (i >= total) return;
    const Pixel p = pixel_of(i, OH, OW);
    __global const T* Xc = X + (long)p.outer * H * W;
    float best = -INFINITY;
    FOR_EACH_INPUT_TAP(p, H, W,
        const float v = (float)Xc[ih * W + iw];
        best = (v > best || isnan(v)) ? v : best;)
    Y[i] = (T)best;
}

__kernel void avg_pool(POOL_ARGS, const int include_pad, const int pe_h, const int pe_w) {
    const int i = get_global_id(0);
    if (i >= total) return;
    const Pixel p = pixel_of(i, OH, OW);
    __global const T* Xc = X + (long)p.outer * H * W;
    float sum = 0.0f;
    FOR_EACH_INPUT_TAP(p, H, W, sum += (float)Xc[ih * W + iw];)
    // counted range per axis, in input coordinates
    const int cnt = counted_taps(p.y, KH, sh, dh, ph, include_pad ? -ph : 0, include_pad ? H + pe_h : H) *
                    counted_taps(p.x, KW, sw, dw, pw, include_pad ? -pw : 0, include_pad ? W + pe_w : W);
    Y[i] = (T)(sum / (float)(cnt > 0 ? cnt : 1));
}
