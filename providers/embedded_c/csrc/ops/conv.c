/* conv.c: default ONNX Conv kernel. A group with one input channel (depthwise) is ep_depthwise.h's
 * lane or row path where it takes it, else a direct loop over the taps on the stride phases of its
 * zero-padded plane; any other group is im2col (none for a 1x1 Conv with
 * stride 1 and no pads) followed by the blocked GEMM of ep_sgemm.h. Both use caller scratch.
 * ep_conv_act also applies an activation (Relu, Clip...) to each block of outputs as the bias is
 * added, while the block is still in cache. */
#include <string.h>

#include "conv.h"
#include "ep_depthwise.h"
#include "ep_exp.h"
#include "ep_layer.h"
#include "ep_sgemm.h"
#include "ep_window.h"

static int is_pointwise(const ep_conv_params *p)
{
    return p->kernel[0] == 1 && p->kernel[1] == 1 && p->strides[0] == 1 && p->strides[1] == 1 &&
           p->pads[0] == 0 && p->pads[1] == 0 && p->pads[2] == 0 && p->pads[3] == 0;
}

/* Largest channel multiplier (outputs per group) that a one-input-channel group runs as a direct
 * loop over its zero-padded plane; beyond it, one im2col shared by all the group's outputs and a
 * GEMM cost less. */
#define EP_CONV_DIRECT_MAX_MULTIPLIER 4

/* the group has one input channel and at most EP_CONV_DIRECT_MAX_MULTIPLIER outputs: the direct
 * loop (lowering.py's scratch size follows the same rule) */
static int is_depthwise(const ep_tensor *w, const ep_conv_params *p)
{
    return w->dims[1] == 1 && p->group > 0 && w->dims[0] / p->group <= EP_CONV_DIRECT_MAX_MULTIPLIER;
}

/* The direct (depthwise) path works on the zero-padded input plane, split by stride into
 * sh x sw phase planes: padded pixel (r, c) goes to phase (r % sh, c % sw) at (r / sh, c / sw),
 * each phase plane being ph x pw. Output (oy, ox)'s tap (ki, kj) then reads phase
 * ((ki * dh) % sh, (kj * dw) % sw) at (oy + ki * dh / sh, ox + kj * dw / sw): stride 1 in ox and
 * in oy, whatever the stride. Scratch: the phase planes, then an accumulator of oh rows of pw. */
static void phase_extents(int64_t ih, int64_t iw, const ep_conv_params *p, int64_t *ph, int64_t *pw)
{
    *ph = (ih + p->pads[0] + p->pads[2] + p->strides[0] - 1) / p->strides[0];
    *pw = (iw + p->pads[1] + p->pads[3] + p->strides[1] - 1) / p->strides[1];
}

static int64_t direct_scratch(int64_t ih, int64_t iw, int64_t oh, const ep_conv_params *p)
{
    int64_t ph, pw;
    phase_extents(ih, iw, p, &ph, &pw);
    return p->strides[0] * p->strides[1] * ph * pw + oh * pw;
}

/* im2col columns are built a block of whole output rows at a time: about EP_CONV_COL_FLOATS floats
 * (1 MiB), so they are still in cache when the GEMM reads them, but at least EP_CONV_COL_MIN_COLS
 * outputs wide, so the GEMM's strips stay full (lowering.py sizes the scratch by the same rule). */
#define EP_CONV_COL_FLOATS 262144
#define EP_CONV_COL_MIN_COLS 256
/* a pointwise (1x1) Conv runs its GEMM this many output columns at a time, so the bias and
 * activation epilogue reads them while they are still in cache */
#define EP_CONV_POINTWISE_COLS 1024

/* output rows per im2col block, for kdim = cg * kh * kw column rows */
static int64_t col_block_rows(int64_t kdim, int64_t oh, int64_t ow)
{
    int64_t rows = kdim * ow > 0 ? EP_CONV_COL_FLOATS / (kdim * ow) : oh;
    if (ow > 0 && rows * ow < EP_CONV_COL_MIN_COLS) {
        rows = (EP_CONV_COL_MIN_COLS + ow - 1) / ow;
    }
    if (rows > oh) {
        rows = oh;
    }
    return rows < 1 ? 1 : rows;
}

/* The in-place ("wide") path: a block of output rows at a time, the input rows the block reads are
 * copied, zero-padded, into phase planes (the padded pixel (r, c) to phase (r % sh, c % sw) at
 * (r / sh, c / sw); one phase of rows + hr rows of pw floats per channel and phase, where
 * hr = (kh - 1) * dh / sh and pw = ow + wr, wr = (kw - 1) * dw / sw), and output (oy, ox) is computed at
 * wide position (oy - oy0) * pw + ox, so that tap (ki, kj) of every output of the block is one
 * contiguous run of a phase plane (starting at row ki * dh / sh, column kj * dw / sw of phase
 * ((ki * dh) % sh, (kj * dw) % sw)): the GEMM reads those runs in place (ep_sgemm_nn_rows), with no
 * im2col. The wr columns past each row are computed and dropped as the epilogue copies the block out.
 * It is taken where they are at most an eighth of pw (or none is computed: EP_CONV_EXACT_MIN_M), the
 * kernel has at most EP_CONV_WIDE_MAX_TAPS taps and the stride at most EP_CONV_WIDE_MAX_PHASES phases (im2col copies each input pixel about
 * kh * kw / (sh * sw) times; this path once, plus the halo rows). Scratch: the planes (channel by
 * channel, each with its sh * sw phases), then the block's wide output (mg x ((rows - 1) * pw + ow)). */
#define EP_CONV_WIDE_FLOATS 65536
#define EP_CONV_WIDE_MAX_TAPS 64
#define EP_CONV_WIDE_MAX_PHASES 16
/* With at least EP_CONV_EXACT_MIN_M outputs a group (the GEMM then packs its strips of b anyway: ep_sgemm.c's
 * EP_IN_PLACE_M), the wide path's GEMM gathers the output positions themselves (ep_sgemm_nn_runs): no columns
 * computed to be dropped (a 4 x 32 map: 128 outputs against 134 wide positions, whose 6 past the last 128 took
 * a strip of their own), whatever their share, so it takes maps too narrow for the wide positions (13 x 13),
 * and the GEMM writes the output rows in place, the epilogue running over them after. */
#define EP_CONV_EXACT_MIN_M 128
/* rows shorter than this many floats are copied by a loop, not a call to memcpy */
#define EP_CONV_SHORT_ROW 64

/* the wide path's geometry for one Conv: hr, wr and pw as above, block rows, floats per phase plane */
typedef struct wide_geometry {
    int64_t hr, wr, pw, rows, plane;
} wide_geometry;

/* the wide path takes the Conv: a kernel of at most EP_CONV_WIDE_MAX_TAPS taps, a stride of at most
 * EP_CONV_WIDE_MAX_PHASES phases, and either few dropped columns or exact positions (EP_CONV_EXACT_MIN_M) */
static int is_wide(const ep_tensor *w, const ep_tensor *y, const ep_conv_params *p)
{
    int64_t oh, ow, wr = (p->kernel[1] - 1) * p->dilations[1] / p->strides[1];
    ep_window_spatial(y, &oh, &ow);
    return ow > 0 && p->kernel[0] * p->kernel[1] <= EP_CONV_WIDE_MAX_TAPS &&
           p->strides[0] * p->strides[1] <= EP_CONV_WIDE_MAX_PHASES &&
           (8 * wr <= ow + wr || w->dims[0] / p->group >= EP_CONV_EXACT_MIN_M);
}

/* rows per block: about EP_CONV_WIDE_FLOATS of scratch, at least EP_CONV_COL_MIN_COLS wide positions */
static wide_geometry wide_plan(int64_t cg, int64_t mg, int64_t oh, int64_t ow, const ep_conv_params *p)
{
    wide_geometry w;
    int64_t phases = p->strides[0] * p->strides[1], fixed, per_row;
    w.hr = (p->kernel[0] - 1) * p->dilations[0] / p->strides[0];
    w.wr = (p->kernel[1] - 1) * p->dilations[1] / p->strides[1];
    w.pw = ow + w.wr;
    fixed = cg * phases * w.hr * w.pw;
    per_row = (cg * phases + mg) * w.pw;
    w.rows = fixed < EP_CONV_WIDE_FLOATS ? (EP_CONV_WIDE_FLOATS - fixed) / per_row : 0;
    if (w.rows * w.pw < EP_CONV_COL_MIN_COLS) {
        w.rows = (EP_CONV_COL_MIN_COLS + w.pw - 1) / w.pw;
    }
    if (w.rows > oh) {
        w.rows = oh;
    }
    if (w.rows < 1) {
        w.rows = 1;
    }
    w.plane = (w.rows + w.hr) * w.pw;
    return w;
}

static int64_t wide_scratch(int64_t cg, int64_t mg, int64_t oh, int64_t ow, const ep_conv_params *p)
{
    wide_geometry w = wide_plan(cg, mg, oh, ow, p);
    return cg * p->strides[0] * p->strides[1] * w.plane + mg * ((w.rows - 1) * w.pw + ow);
}

/* The phase planes of the padded input rows that output rows oy0 .. oy0 + rows - 1 read, of group
 * input xg (cg x ih x iw): channel ci's phase (a, b) at planes + (ci * sh * sw + a * sw + b) * w->plane,
 * padding zero; phases no tap reads (`used` 0) are left as they are. */
static void wide_planes(const float *xg, int64_t cg, int64_t ih, int64_t iw, int64_t oy0, int64_t rows,
                        const ep_conv_params *p, const wide_geometry *w, const unsigned char *used, float *planes)
{
    int64_t sh = p->strides[0], sw = p->strides[1], ci, a, b, r, c;
    for (ci = 0; ci < cg; ++ci) {
        for (a = 0; a < sh; ++a) {
            for (b = 0; b < sw; ++b) {
                float *dst = planes + ((ci * sh + a) * sw + b) * w->plane;
                /* phase columns [lo, hi) hold input columns c * sw + b - left; the others padding */
                int64_t first = p->pads[1] - b, lo, hi;
                if (!used[a * sw + b]) {
                    continue;
                }
                lo = first <= 0 ? 0 : (first + sw - 1) / sw;
                hi = iw + first <= 0 ? 0 : (iw + first + sw - 1) / sw;
                hi = hi > w->pw ? w->pw : hi;
                lo = lo > hi ? hi : lo;
                for (r = 0; r < rows + w->hr; ++r, dst += w->pw) {
                    int64_t yy = (oy0 + r) * sh + a - p->pads[0];
                    const float *src;
                    if (yy < 0 || yy >= ih) {
                        memset(dst, 0, (size_t)w->pw * sizeof(float));
                        continue;
                    }
                    src = xg + (ci * ih + yy) * iw; /* src[c * sw - first] is phase column c */
                    for (c = 0; c < lo; ++c) {
                        dst[c] = 0.0f;
                    }
                    if (sw == 1 && hi - lo >= EP_CONV_SHORT_ROW) {
                        memcpy(dst + lo, src + (lo - first), (size_t)(hi - lo) * sizeof(float));
                    } else if (sw == 1) { /* a short row: a loop costs less than a call */
                        for (c = lo; c < hi; ++c) {
                            dst[c] = src[c - first];
                        }
                    } else if (sw == 2) { /* a constant stride vectorizes */
                        for (c = lo; c < hi; ++c) {
                            dst[c] = src[2 * c - first];
                        }
                    } else {
                        for (c = lo; c < hi; ++c) {
                            dst[c] = src[c * sw - first];
                        }
                    }
                    for (c = hi; c < w->pw; ++c) {
                        dst[c] = 0.0f;
                    }
                }
            }
        }
    }
}

int64_t ep_conv_scratch_size(const ep_tensor *x, const ep_tensor *w, const ep_tensor *y, const ep_conv_params *p)
{
    int64_t oh;
    int64_t ow;
    int64_t cg = w->dims[1];
    if (is_pointwise(p)) {
        return 0;
    }
    ep_window_spatial(y, &oh, &ow);
    if (is_depthwise(w, p)) {
        int64_t ih, iw;
        ep_window_spatial(x, &ih, &iw);
        return ep_depthwise_ok(w->dims[0], oh, ow, p) ? ep_depthwise_scratch_size(w->dims[0], oh, ow, p)
                                                      : direct_scratch(ih, iw, oh, p);
    }
    if (is_wide(w, y, p)) {
        return wide_scratch(cg, w->dims[0] / p->group, oh, ow, p);
    }
    return cg * p->kernel[0] * p->kernel[1] * col_block_rows(cg * p->kernel[0] * p->kernel[1], oh, ow) * ow;
}

/* [*lo, *hi): the outputs ox whose tap at column offset `off` (input column ox * sw + off) lies
 * inside a row of iw columns; the others read padding */
static void tap_span(int64_t off, int64_t sw, int64_t iw, int64_t ow, int64_t *lo, int64_t *hi)
{
    int64_t l = off >= 0 ? 0 : (-off + sw - 1) / sw;
    int64_t h = iw - off <= 0 ? 0 : (iw - off + sw - 1) / sw;
    if (h > ow) {
        h = ow;
    }
    *lo = l > h ? h : l;
    *hi = h;
}

/* col (cg*kh*kw x rows*ow): row (ci, ki, kj) holds the input pixel under tap (ki, kj) of every output
 * of output rows oy0 .. oy0 + rows - 1 */
static void im2col(const float *xg, int64_t cg, int64_t ih, int64_t iw, int64_t oy0, int64_t rows, int64_t ow,
                   const ep_conv_params *p, float *dst)
{
    int64_t ci, ki, kj, oy, ox;
    int64_t sh = p->strides[0], sw = p->strides[1];
    for (ci = 0; ci < cg; ++ci) {
        for (ki = 0; ki < p->kernel[0]; ++ki) {
            for (kj = 0; kj < p->kernel[1]; ++kj) {
                int64_t off = kj * p->dilations[1] - p->pads[1];
                int64_t lo, hi;
                tap_span(off, sw, iw, ow, &lo, &hi);
                for (oy = oy0; oy < oy0 + rows; ++oy) {
                    int64_t yy = oy * sh - p->pads[0] + ki * p->dilations[0];
                    const float *row;
                    if (yy < 0 || yy >= ih) {
                        memset(dst, 0, (size_t)ow * sizeof(float));
                        dst += ow;
                        continue;
                    }
                    row = xg + (ci * ih + yy) * iw;
                    for (ox = 0; ox < lo; ++ox) {
                        dst[ox] = 0.0f;
                    }
                    if (sw == 1) {
                        if (hi > lo) {
                            memcpy(dst + lo, row + lo + off, (size_t)(hi - lo) * sizeof(float));
                        }
                    } else {
                        for (ox = lo; ox < hi; ++ox) {
                            dst[ox] = row[ox * sw + off];
                        }
                    }
                    for (ox = hi; ox < ow; ++ox) {
                        dst[ox] = 0.0f;
                    }
                    dst += ow;
                }
            }
        }
    }
}

/* dst: the phase planes (ph x pw each) of the plane xp (ih x iw); the pads are not written (every
 * plane puts its pixels in the same places, so they are zeroed once, before the first) */
static void split_plane(const float *xp, int64_t ih, int64_t iw, const ep_conv_params *p, int64_t ph, int64_t pw,
                        float *dst)
{
    int64_t sh = p->strides[0], sw = p->strides[1], yy, phase;
    for (yy = 0; yy < ih; ++yy) {
        int64_t r = yy + p->pads[0];
        float *prow = dst + ((r % sh) * sw * ph + r / sh) * pw;
        const float *xr = xp + yy * iw;
        if (sw == 1) {
            memcpy(prow + p->pads[1], xr, (size_t)iw * sizeof(float));
            continue;
        }
        for (phase = 0; phase < sw; ++phase) { /* the columns xx with (xx + left pad) % sw == phase */
            int64_t first = ((phase - p->pads[1]) % sw + sw) % sw;
            float *dst_col = prow + phase * ph * pw + (first + p->pads[1]) / sw;
            int64_t count = first < iw ? (iw - first + sw - 1) / sw : 0, k;
            if (sw == 2) { /* a constant stride vectorizes */
                for (k = 0; k < count; ++k) {
                    dst_col[k] = xr[first + 2 * k];
                }
            } else {
                for (k = 0; k < count; ++k) {
                    dst_col[k] = xr[first + k * sw];
                }
            }
        }
    }
}

/* Taps gathered for one pass over the accumulator: acc[q] (+)= sum of w[t] * src[t][q]. */
#define EP_TAP_BATCH 9
typedef struct tap_batch {
    const float *src[EP_TAP_BATCH];
    float w[EP_TAP_BATCH];
    int count;
    int first; /* no pass has written acc yet: the next one sets it */
} tap_batch;

/* one pass of the gathered taps over acc[0..n): nine at once (a 3x3 kernel), else by threes */
static void taps_flush(tap_batch *b, float *acc, int64_t n)
{
    const float *const *s = b->src;
    const float *w = b->w;
    int t = 0;
    int64_t q;
    if (b->count == 9) {
        for (q = 0; q < n; ++q) {
            float v = w[0] * s[0][q] + w[1] * s[1][q] + w[2] * s[2][q] + w[3] * s[3][q] + w[4] * s[4][q] +
                      w[5] * s[5][q] + w[6] * s[6][q] + w[7] * s[7][q] + w[8] * s[8][q];
            acc[q] = b->first ? v : acc[q] + v;
        }
        t = 9;
        b->first = 0;
    }
    for (; t + 3 <= b->count; t += 3) {
        const float *s0 = s[t], *s1 = s[t + 1], *s2 = s[t + 2];
        float w0 = w[t], w1 = w[t + 1], w2 = w[t + 2];
        for (q = 0; q < n; ++q) {
            float v = w0 * s0[q] + w1 * s1[q] + w2 * s2[q];
            acc[q] = b->first ? v : acc[q] + v;
        }
        b->first = 0;
    }
    for (; t < b->count; ++t) {
        const float *s0 = s[t];
        float w0 = w[t];
        for (q = 0; q < n; ++q) {
            acc[q] = b->first ? w0 * s0[q] : acc[q] + w0 * s0[q];
        }
        b->first = 0;
    }
    b->count = 0;
}

/* dst[q] = act(src[q] + bias) for q < n (dst may be src): the same float operations, in the same
 * order, as the conv's bias add followed by the activation's own kernel (relu.c, clip.c,
 * leaky_relu.c, hardsigmoid.c, hardswish.c, sigmoid.c, swish.c; mul.c after hardsigmoid.c or
 * sigmoid.c), so a fused chain is bitwise the separate ops; selects rather than fminf / fmaxf, so
 * NaN passes through as those kernels let it. */
#define EP_CONV_EPILOGUE_LOOP(EXPR)                  \
    if (bias == NULL) {                              \
        for (q = 0; q < n; ++q) {                    \
            float v = src[q];                        \
            dst[q] = (EXPR);                         \
        }                                            \
    } else {                                         \
        float bv = *bias;                            \
        for (q = 0; q < n; ++q) {                    \
            float v = src[q] + bv;                   \
            dst[q] = (EXPR);                         \
        }                                            \
    }                                                \
    break;

/* the activation a Conv's output goes through before it is stored (conv.h's EP_CONV_ACT_*) */
typedef struct conv_epilogue {
    int32_t kind;
    float alpha;    /* Clip's min, LeakyRelu's, HardSigmoid's and Swish's alpha */
    float beta;     /* Clip's max, HardSigmoid's beta */
    const float *y; /* the output's first element, and */
    const float *r; /* the residual added after the activation (ep_conv_act_add), or NULL */
} conv_epilogue;

/* bias: NULL for none (so -0 stays -0, as when no bias is added) */
static void epilogue(float *dst, const float *src, int64_t n, const float *bias, const conv_epilogue *a)
{
    float lo = a->alpha, hi = a->beta;
    int64_t q;
    switch (a->kind) {
    case EP_CONV_ACT_RELU:
        EP_CONV_EPILOGUE_LOOP(v < 0.0f ? 0.0f : v)
    case EP_CONV_ACT_CLIP:
        EP_CONV_EPILOGUE_LOOP(v < lo ? lo : (v > hi ? hi : v))
    case EP_CONV_ACT_LEAKY_RELU:
        EP_CONV_EPILOGUE_LOOP(v < 0.0f ? v * lo : v)
    case EP_CONV_ACT_HARD_SIGMOID:
        EP_CONV_EPILOGUE_LOOP(lo * v + hi < 0.0f ? 0.0f : (lo * v + hi > 1.0f ? 1.0f : lo * v + hi))
    case EP_CONV_ACT_HARD_SWISH:
        EP_CONV_EPILOGUE_LOOP(v * (v / 6.0f + 0.5f < 0.0f ? 0.0f : (v / 6.0f + 0.5f > 1.0f ? 1.0f : v / 6.0f + 0.5f)))
    case EP_CONV_ACT_SIGMOID:
        EP_CONV_EPILOGUE_LOOP(v >= 0.0f ? 1.0f / (1.0f + ep_expf(-v)) : ep_expf(v) / (1.0f + ep_expf(v)))
    case EP_CONV_ACT_SWISH:
        EP_CONV_EPILOGUE_LOOP(v / (1.0f + ep_expf(-lo * v)))
    case EP_CONV_ACT_MUL_HARD_SIGMOID:
        EP_CONV_EPILOGUE_LOOP(v * (lo * v + hi < 0.0f ? 0.0f : (lo * v + hi > 1.0f ? 1.0f : lo * v + hi)))
    case EP_CONV_ACT_MUL_SIGMOID:
        EP_CONV_EPILOGUE_LOOP(v * (v >= 0.0f ? 1.0f / (1.0f + ep_expf(-v)) : ep_expf(v) / (1.0f + ep_expf(v))))
    default:
        EP_CONV_EPILOGUE_LOOP(v)
    }
    if (a->r != NULL) { /* as add.c after the activation's kernel: dst + r, while dst is in cache */
        const float *r = a->r + (dst - a->y);
        for (q = 0; q < n; ++q) {
            dst[q] = dst[q] + r[q];
        }
    }
}
#undef EP_CONV_EPILOGUE_LOOP

/* One output plane yp (oh x ow) of a group with one input channel, from the phase planes of its
 * padded input and its kernel wk: no test for padding anywhere, unit-stride loads whatever the
 * stride. The plane is computed as one long row of oh * pw outputs (output (oy, ox) at
 * oy * pw + ox; the pw - ow past each row are never copied out), so short rows vectorize as well as
 * long ones. */
static void direct_plane(const float *phases, int64_t ph, int64_t pw, const float *wk, float bias, float *yp,
                         int64_t oh, int64_t ow, const ep_conv_params *p, float *acc, const conv_epilogue *a)
{
    int64_t sh = p->strides[0], sw = p->strides[1], dh = p->dilations[0], dw = p->dilations[1];
    int64_t n = (oh - 1) * pw + ow;
    int64_t oy, ki, kj;
    tap_batch b;
    b.count = 0;
    b.first = 1;
    for (ki = 0; ki < p->kernel[0]; ++ki) {
        for (kj = 0; kj < p->kernel[1]; ++kj) {
            int64_t r = ki * dh, c = kj * dw;
            b.src[b.count] = phases + (((r % sh) * sw + c % sw) * ph + r / sh) * pw + c / sw;
            b.w[b.count] = wk[ki * p->kernel[1] + kj];
            if (++b.count == EP_TAP_BATCH) {
                taps_flush(&b, acc, n);
            }
        }
    }
    taps_flush(&b, acc, n);
    for (oy = 0; oy < oh; ++oy) {
        epilogue(yp + oy * ow, acc + oy * pw, ow, &bias, a);
    }
}

/* the bias and activation of ep_depthwise's outputs (its ep_depthwise_done) */
typedef struct depthwise_epilogue {
    const float *bias; /* or NULL */
    const conv_epilogue *a;
} depthwise_epilogue;

static void depthwise_done(void *ctx, float *y, int64_t n, int64_t channel)
{
    const depthwise_epilogue *e = (const depthwise_epilogue *)ctx;
    epilogue(y, y, n, e->bias ? e->bias + channel : NULL, e->a);
}

/* group output yg (mg x oh x ow) of group input xg by the wide path (see EP_CONV_WIDE_FLOATS) */
static void wide_conv(const float *xg, const float *wg, const float *bias, float *yg, int64_t cg, int64_t mg,
                      int64_t ih, int64_t iw, int64_t oh, int64_t ow, const ep_conv_params *p, float *scratch,
                      const conv_epilogue *a)
{
    int64_t sh = p->strides[0], sw = p->strides[1], kh = p->kernel[0], kw = p->kernel[1];
    int64_t toff[EP_CONV_WIDE_MAX_TAPS], ki, kj, oy0, i, r;
    unsigned char used[EP_CONV_WIDE_MAX_PHASES];
    wide_geometry w = wide_plan(cg, mg, oh, ow, p);
    float *wide = scratch + cg * sh * sw * w.plane;
    ep_sgemm_rows g;
    memset(used, 0, sizeof used);
    for (ki = 0; ki < kh; ++ki) {
        for (kj = 0; kj < kw; ++kj) {
            int64_t dr = ki * p->dilations[0], dc = kj * p->dilations[1], phase = (dr % sh) * sw + dc % sw;
            toff[ki * kw + kj] = phase * w.plane + dr / sh * w.pw + dc / sw;
            used[phase] = 1;
        }
    }
    g.b = scratch;
    g.taps = kh * kw;
    g.cstride = sh * sw * w.plane;
    g.toff = toff;
    for (oy0 = 0; oy0 < oh; oy0 += w.rows) {
        int64_t rows = oh - oy0 < w.rows ? oh - oy0 : w.rows, nw = (rows - 1) * w.pw + ow;
        wide_planes(xg, cg, ih, iw, oy0, rows, p, &w, used, scratch);
        if (mg >= EP_CONV_EXACT_MIN_M) {
            float *ys = yg + oy0 * ow; /* the output rows themselves (see EP_CONV_EXACT_MIN_M) */
            ep_sgemm_nn_runs(mg, rows * ow, cg * kh * kw, wg, cg * kh * kw, 1, &g, ow, w.pw, ys, oh * ow);
            for (i = 0; i < mg; ++i) {
                epilogue(ys + i * oh * ow, ys + i * oh * ow, rows * ow, bias ? bias + i : NULL, a);
            }
            continue;
        }
        ep_sgemm_nn_rows(mg, nw, cg * kh * kw, wg, cg * kh * kw, 1, &g, wide, nw);
        for (i = 0; i < mg; ++i) {
            for (r = 0; r < rows; ++r) {
                epilogue(yg + i * oh * ow + (oy0 + r) * ow, wide + i * nw + r * w.pw, ow, bias ? bias + i : NULL, a);
            }
        }
    }
}

/* EP_OK when every descriptor and parameter agrees with the others (see conv.h). */
static int check_conv(const ep_tensor *x, const ep_tensor *w, const ep_tensor *b, const ep_tensor *y,
                      const ep_conv_params *p)
{
    int rc = ep_check_operands(x, w, y, b);
    int64_t c, m;
    if (rc == EP_OK && p == NULL) {
        rc = EP_ERR_ARG;
    }
    if (rc == EP_OK) {
        rc = ep_window_check(x, y, p->kernel, p->strides, p->pads, p->dilations, 0);
    }
    if (rc != EP_OK) {
        return rc;
    }
    if (p->group < 1 || p->group > x->dims[1]) {
        return EP_ERR_ARG;
    }
    c = x->dims[1];
    m = w->dims[0];
    if (w->rank != x->rank || c != w->dims[1] * p->group || m % p->group != 0 || y->dims[1] != m ||
        w->dims[w->rank - 1] != p->kernel[1] || (w->rank == 4 && w->dims[2] != p->kernel[0]) ||
        (b && (b->rank != 1 || b->dims[0] != m))) {
        return EP_ERR_SHAPE;
    }
    return EP_OK;
}

int ep_conv(const ep_tensor *x, const ep_tensor *w, const ep_tensor *b, ep_tensor *y,
            const ep_conv_params *p, float *scratch)
{
    return ep_conv_act(x, w, b, y, p, scratch, EP_CONV_ACT_NONE, 0.0f, 0.0f);
}

/* ep_conv_act, with the residual r added after the activation when r is not NULL (checked by the caller) */
static int conv_run(const ep_tensor *x, const ep_tensor *w, const ep_tensor *b, ep_tensor *y, const ep_conv_params *p,
                    float *scratch, int32_t act, float alpha, float beta, const ep_tensor *r)
{
    int64_t n_batch, c, m, cg, mg, ih, iw, oh, ow, kh, kw, kdim, npix, nb, g;
    const float *px;
    const float *pw;
    const float *pb;
    float *py;
    int needs_scratch;
    int direct;
    int wide;
    conv_epilogue a;
    int rc = check_conv(x, w, b, y, p);
    if (rc != EP_OK) {
        return rc;
    }
    if (act < EP_CONV_ACT_NONE || act > EP_CONV_ACT_MUL_SIGMOID) {
        return EP_ERR_ARG;
    }
    a.kind = act;
    a.alpha = alpha;
    a.beta = beta;
    a.y = (const float *)y->data;
    a.r = r ? (const float *)r->data : NULL;
    needs_scratch = !is_pointwise(p);
    if (needs_scratch && scratch == NULL) {
        return EP_ERR_ARG;
    }
    /* a 1x1 depthwise Conv (no scratch, as ep_conv_scratch_size says) is a GEMM per group */
    direct = needs_scratch && is_depthwise(w, p);
    wide = needs_scratch && !direct && is_wide(w, y, p);
    n_batch = x->dims[0];
    c = x->dims[1];
    m = w->dims[0];
    cg = w->dims[1];
    mg = m / p->group;
    kh = p->kernel[0];
    kw = p->kernel[1];
    kdim = cg * kh * kw;
    px = (const float *)x->data;
    pw = (const float *)w->data;
    pb = b ? (const float *)b->data : NULL;
    py = (float *)y->data;
    ep_window_spatial(x, &ih, &iw);
    ep_window_spatial(y, &oh, &ow);
    npix = oh * ow;

    if (direct && ep_depthwise_ok(m, oh, ow, p)) { /* ep_depthwise.h's lane and row paths */
        depthwise_epilogue e;
        e.bias = pb;
        e.a = &a;
        ep_depthwise(px, pw, py, n_batch, c, m, ih, iw, oh, ow, p, scratch, depthwise_done, &e);
        return EP_OK;
    }
    if (direct) { /* the pads of the phase planes: zero once, split_plane leaves them */
        int64_t phase_h, phase_w;
        phase_extents(ih, iw, p, &phase_h, &phase_w);
        memset(scratch, 0, (size_t)(p->strides[0] * p->strides[1] * phase_h * phase_w) * sizeof(float));
    }
    for (nb = 0; nb < n_batch; ++nb) {
        for (g = 0; g < p->group; ++g) {
            const float *xg = px + (nb * c + g * cg) * ih * iw;
            float *yg = py + (nb * m + g * mg) * npix;
            const float *wg = pw + g * mg * kdim;
            int64_t i;
            if (direct) {
                int64_t phase_h, phase_w;
                phase_extents(ih, iw, p, &phase_h, &phase_w);
                split_plane(xg, ih, iw, p, phase_h, phase_w, scratch);
                for (i = 0; i < mg; ++i) {
                    direct_plane(scratch, phase_h, phase_w, wg + i * kdim, pb ? pb[g * mg + i] : 0.0f,
                                 yg + i * npix, oh, ow, p, scratch + p->strides[0] * p->strides[1] * phase_h * phase_w, &a);
                }
                continue;
            }
            if (wide) {
                wide_conv(xg, wg, pb ? pb + g * mg : NULL, yg, cg, mg, ih, iw, oh, ow, p, scratch, &a);
            } else if (needs_scratch) { /* by blocks of output rows: yg's columns = wg (mg x kdim) * col */
                int64_t block = col_block_rows(kdim, oh, ow), oy0;
                for (oy0 = 0; oy0 < oh; oy0 += block) {
                    int64_t rows = oh - oy0 < block ? oh - oy0 : block;
                    im2col(xg, cg, ih, iw, oy0, rows, ow, p, scratch);
                    ep_sgemm_nn(mg, rows * ow, kdim, wg, kdim, 1, scratch, rows * ow, yg + oy0 * ow, npix);
                    if (pb || a.kind != EP_CONV_ACT_NONE || a.r) { /* bias and activation while the block is in cache */
                        for (i = 0; i < mg; ++i) {
                            float *row = yg + i * npix + oy0 * ow;
                            epilogue(row, row, rows * ow, pb ? pb + g * mg + i : NULL, &a);
                        }
                    }
                }
            } else { /* yg (mg x npix) = wg (mg x cg) * xg (cg x npix), by blocks of columns */
                int64_t q0;
                for (q0 = 0; q0 < npix; q0 += EP_CONV_POINTWISE_COLS) {
                    int64_t cols = npix - q0 < EP_CONV_POINTWISE_COLS ? npix - q0 : EP_CONV_POINTWISE_COLS;
                    ep_sgemm_nn(mg, cols, kdim, wg, kdim, 1, xg + q0, npix, yg + q0, npix);
                    if (pb || a.kind != EP_CONV_ACT_NONE || a.r) {
                        for (i = 0; i < mg; ++i) {
                            float *row = yg + i * npix + q0;
                            epilogue(row, row, cols, pb ? pb + g * mg + i : NULL, &a);
                        }
                    }
                }
            }
        }
    }
    return EP_OK;
}

int ep_conv_act(const ep_tensor *x, const ep_tensor *w, const ep_tensor *b, ep_tensor *y,
                const ep_conv_params *p, float *scratch, int32_t act, float alpha, float beta)
{
    return conv_run(x, w, b, y, p, scratch, act, alpha, beta, NULL);
}

int ep_conv_act_add(const ep_tensor *x, const ep_tensor *w, const ep_tensor *b, ep_tensor *y,
                    const ep_conv_params *p, float *scratch, int32_t act, float alpha, float beta, const ep_tensor *r)
{
    int rc;
    if (r == NULL || y == NULL) {
        return EP_ERR_ARG;
    }
    rc = ep_check_same(r, y);
    return rc != EP_OK ? rc : conv_run(x, w, b, y, p, scratch, act, alpha, beta, r);
}
