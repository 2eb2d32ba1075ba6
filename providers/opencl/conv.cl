// 2-D convolutions (1-D ones run as 2-D with H = 1). Built with -DT=float (or half).
//
// conv_igemm: Conv as an implicit GEMM on the tiled core of gemm_tile.cl. Per (image n, group
// g) the output Y[n, g*Mg:(g+1)*Mg] (Mg x OH*OW) is W_g (Mg x Cg*KH*KW) times the im2col matrix
// of the input, whose elements are computed while loading the B tile and never stored.
// conv_direct: one work-item per output value (depthwise and other tiny channel counts).
// conv_transpose: one work-item per output value, gathering the input positions that scatter
// into it.

#include "gemm_tile.cl"
#include "window.clh"

// The arguments of the one-work-item-per-output kernels (conv.py passes them alike to both).
#define DIRECT_ARGS                                                                                          \
    const int total, __global const T *X, __global const T *W, __global const T *Bias, const int has_bias,  \
        __global T *Y, const int C, const int H, const int Wd, const int Mtot, const int OH, const int OW,   \
        const int Cg, const int Mg, const int KH, const int KW, const int sh, const int sw, const int ph,    \
        const int pw, const int dh, const int dw

// element (k, p) of the im2col matrix of one image group: k = (c, kh, kw), p = (oh, ow)
inline float im2col(__global const T* Xn, const int k, const int p, const int H, const int Wd, const int OW,
                    const int KK, const int KW, const int sh, const int sw, const int ph, const int pw,
                    const int dh, const int dw) {
    const int c = k / KK, r = k - c * KK;
    const int kh = r / KW, kw = r - kh * KW;
    const int oh = p / OW, ow = p - oh * OW;
    const int ih = oh * sh - ph + kh * dh, iw = ow * sw - pw + kw * dw;
    return (ih >= 0 && ih < H && iw >= 0 && iw < Wd) ? (float)Xn[((long)c * H + ih) * Wd + iw] : 0.0f;
}

__kernel __attribute__((reqd_work_group_size(LX, LY, 1)))
void conv_igemm(__global const T* X, __global const T* W, __global const T* Bias, const int has_bias,
                __global T* Y,
                const int C, const int H, const int Wd, const int Mtot, const int OH, const int OW,
                const int G, const int Cg, const int Mg,
                const int KH, const int KW, const int sh, const int sw, const int ph, const int pw,
                const int dh, const int dw) {
    const int bz = get_global_id(2);
    const int n = bz / G, g = bz % G;
    const int P = OH * OW, KK = KH * KW, Ktot = Cg * KK;
    __global const T* Xn = X + ((long)n * C + (long)g * Cg) * H * Wd;
    __global const T* Wg = W + (long)g * Mg * Ktot;
#define LOAD_A(m, k) ((float)Wg[(m) * Ktot + (k)])
#define LOAD_B(k, p) im2col(Xn, k, p, H, Wd, OW, KK, KW, sh, sw, ph, pw, dh, dw)
    GEMM_TILE_LOOP(Mg, P, Ktot)
#undef LOAD_A
#undef LOAD_B
    __global T* Yb = Y + ((long)n * Mtot + (long)g * Mg) * P;
    for (int i = 0; i < WPT_M; ++i) {
        const int m = m0 + ty + i * LY;
        if (m >= Mg) continue;
        const float b = has_bias ? (float)Bias[g * Mg + m] : 0.0f;
        for (int j = 0; j < WPT_N; ++j) {
            const int p = n0 + tx + j * LX;
            if (p < P) Yb[(long)m * P + p] = (T)(acc[i][j] + b);
        }
    }
}

__kernel void conv_direct(DIRECT_ARGS) {
    const int i = get_global_id(0);
    if (i >= total) return;
    const Pixel p = pixel_of(i, OH, OW);
    const int m = p.outer % Mtot, n = p.outer / Mtot;
    const int g = m / Mg;
    float acc = has_bias ? (float)Bias[m] : 0.0f;
    for (int c = 0; c < Cg; ++c) {
        __global const T* Xc = X + ((long)n * C + g * Cg + c) * H * Wd;
        __global const T* Wc = W + ((long)m * Cg + c) * KH * KW;
        FOR_EACH_INPUT_TAP(p, H, Wd, acc = mad((float)Xc[ih * Wd + iw], (float)Wc[kh * KW + kw], acc);)
    }
    Y[i] = (T)acc;
}

// X (N, C, H, W), W (C, Mg, KH, KW) with C = G * Cg; Y (N, G * Mg, OH, OW)
__kernel void conv_transpose(DIRECT_ARGS) {
    const int i = get_global_id(0);
    if (i >= total) return;
    const Pixel p = pixel_of(i, OH, OW);
    const int oh = p.y, ow = p.x;
    const int m = p.outer % Mtot, n = p.outer / Mtot;
    const int g = m / Mg, mg = m % Mg;
    float acc = has_bias ? (float)Bias[m] : 0.0f;
    for (int kh = 0; kh < KH; ++kh) {
        const int th = oh + ph - kh * dh;
        if (th < 0 || th % sh) continue;
        const int ih = th / sh;
        if (ih >= H) continue;
        for (int kw = 0; kw < KW; ++kw) {
            const int tw = ow + pw - kw * dw;
            if (tw < 0 || tw % sw) continue;
            const int iw = tw / sw;
            if (iw >= Wd) continue;
            for (int c = 0; c < Cg; ++c) {
                const int ci = g * Cg + c;
                acc = mad((float)X[(((long)n * C + ci) * H + ih) * Wd + iw],
                          (float)W[(((long)ci * Mg + mg) * KH + kh) * KW + kw], acc);
            }
        }
    }
    Y[i] = (T)acc;
}
