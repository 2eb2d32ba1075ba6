// MaxPool and AveragePool over 2-D windows (1-D pools run with H = 1), one work-item per output.
// Built with -DT=float (or half). Geometry (pads, output sizes, ceil mode) is computed on the host.
//
// AveragePool's divisor counts the window taps inside [lo, hi) per axis: the input itself, or with
// count_include_pad the input plus its explicit pads (never the extra end added by ceil_mode).

#ifdef USE_HALF
#pragma OPENCL EXTENSION cl_khr_fp16 : enable
#endif

__kernel void max_pool(const int total, __global const T* X, __global T* Y, const int H, const int W,
                       const int OH, const int OW, const int KH, const int KW, const int sh, const int sw,
                       const int ph, const int pw, const int dh, const int dw) {
    const int i = get_global_id(0);
    if (i >= total) return;
    const int ow = i % OW;
    const int oh = (i / OW) % OH;
    const int nc = i / (OW * OH);
    __global const T* Xc = X + (long)nc * H * W;
    float best = -INFINITY;
    for (int kh = 0; kh < KH; ++kh) {
        const int ih = oh * sh - ph + kh * dh;
        if (ih < 0 || ih >= H) continue;
        for (int kw = 0; kw < KW; ++kw) {
            const int iw = ow * sw - pw + kw * dw;
            if (iw < 0 || iw >= W) continue;
            const float v = (float)Xc[ih * W + iw];
            best = (v > best || isnan(v)) ? v : best;
        }
    }
    Y[i] = (T)best;
}

__kernel void avg_pool(const int total, __global const T* X, __global T* Y, const int H, const int W,
                       const int OH, const int OW, const int KH, const int KW, const int sh, const int sw,
                       const int ph, const int pw, const int dh, const int dw, const int include_pad,
                       const int pe_h, const int pe_w) {
    const int i = get_global_id(0);
    if (i >= total) return;
    const int ow = i % OW;
    const int oh = (i / OW) % OH;
    const int nc = i / (OW * OH);
    __global const T* Xc = X + (long)nc * H * W;
    // counted range per axis, in input coordinates
    const int lo_h = include_pad ? -ph : 0, hi_h = include_pad ? H + pe_h : H;
    const int lo_w = include_pad ? -pw : 0, hi_w = include_pad ? W + pe_w : W;
    float sum = 0.0f;
    int cnt_h = 0, cnt_w = 0;
    for (int kw = 0; kw < KW; ++kw) {
        const int iw = ow * sw - pw + kw * dw;
        if (iw >= lo_w && iw < hi_w) ++cnt_w;
    }
    for (int kh = 0; kh < KH; ++kh) {
        const int ih = oh * sh - ph + kh * dh;
        if (ih >= lo_h && ih < hi_h) ++cnt_h;
        if (ih < 0 || ih >= H) continue;
        for (int kw = 0; kw < KW; ++kw) {
            const int iw = ow * sw - pw + kw * dw;
            if (iw < 0 || iw >= W) continue;
            sum += (float)Xc[ih * W + iw];
        }
    }
    const int cnt = cnt_h * cnt_w;
    Y[i] = (T)(sum / (float)(cnt > 0 ? cnt : 1));
}
