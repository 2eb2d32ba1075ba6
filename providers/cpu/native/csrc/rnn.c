/* LSTM recurrences: one direction's every time step in one call, float32 (ONNX LSTM) or over int8
 * weights with H_{t-1} requantized to uint8 every step (com.microsoft DynamicQuantizeLSTM).
 *
 * The caller (providers/cpu/native/rnn.py) brings the inputs to layout 0 and processing order,
 * computes the input projection X W^T of every step (numpy's GEMM for float, ep_qlstm_project_f32
 * for int8), and checks every size. Per step this code computes H_{t-1} R^T, the gates and the new
 * state with the arithmetic of the numpy kernels (providers/cpu/rnn.py, contrib/quantized_lstm.py),
 * operation for operation: products and sums are separate roundings (no fused multiply-add, see the
 * pragma below), so every clone gives the same bits. The integer products are exact (int32 sums of
 * u8 x s8 products, the zero points applied in int64); only the tanh approximation of
 * ep_native.h differs from numpy's tanh (a few ulp).
 *
 * The int8 products: on a CPU with AVX-512 VNNI, a vpdpbusd kernel (intrinsics) over weights packed
 * once by ep_qlstm_pack, 16 columns a register, so no column needs a horizontal sum (the
 * auto-vectorised dot products need one per column: 3x slower for k = 128, 8x for k = 40); on
 * others, dot products over the int8 rows that GCC vectorises (target_clones). Integer sums are
 * exact: both give the same bits.
 *
 * A quantized step meets a case this code does not reproduce (an infinite or NaN H, a degenerate
 * quantization scale): it returns EP_RNN_UNCOVERED and the caller runs the numpy kernel instead.
 */

/* no multiply-add contraction in this file: gates, scales and cell updates round like numpy's
 * separate passes, and every clone (with or without FMA) computes the same bits; no unroll-and-jam
 * (it would move the float products' register sums to the stack) */
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off", "no-loop-unroll-and-jam")
#endif

#include "ep_native.h"

#include <stdlib.h>

/* returned when a quantized step leaves what this code reproduces exactly (the caller falls back) */
#define EP_RNN_UNCOVERED 1
#define EP_RNN_NO_MEMORY 2

/* the int8 products sum in int32: k * 255 * 128 stays below 2^31 up to this many terms */
#define RNN_MAX_K 65536

/* columns a group of the VNNI kernel's packed weights: eight blocks of 16 (one 512-bit register of
 * sums each); the threads split the columns at multiples of it */
#define RNN_GROUP 128

/* LSTM activation codes (rnn.py's RNN_ACTIVATIONS): f(x, alpha, beta) as the numpy kernel writes them */
enum {
    RNN_SIGMOID = 0,   /* 0.5 tanh(0.5 x) + 0.5 */
    RNN_TANH = 1,
    RNN_RELU = 2,
    RNN_AFFINE = 3,    /* alpha x + beta */
    RNN_LEAKY_RELU = 4,
    RNN_THRESHOLDED_RELU = 5,
    RNN_SCALED_TANH = 6, /* alpha tanh(beta x) */
    RNN_HARD_SIGMOID = 7, /* clip(alpha x + beta, 0, 1) */
    RNN_SOFTSIGN = 8,
    RNN_ACT_COUNT = 9
};

/* multiply-adds a part of a call takes at least: a step is split over threads from 2^21 of them (a
 * hidden size of about 720 at batch 1, where R no longer fits one core's L2); below, waking the
 * workers every step costs more than it saves */
#define RNN_GRAIN (1 << 20)

/* a * b * c multiply-adds, saturated (no int64 overflow whatever the sizes) */
EP_INLINE int64_t rnn_work(int64_t a, int64_t b, int64_t c) {
    const double work = (double)a * (double)b * (double)c;
    return work > 9.0e15 ? (int64_t)9.0e15 : (int64_t)work;
}

/* ------------------------------------------------------------------ element passes */

EP_INLINE void rnn_act(float *v, int64_t n, int kind, float a, float b) {
    switch (kind) {
    case RNN_SIGMOID:
        for (int64_t i = 0; i < n; i++) v[i] = ep_tanhf(v[i] * 0.5f) * 0.5f + 0.5f;
        break;
    case RNN_TANH:
        for (int64_t i = 0; i < n; i++) v[i] = ep_tanhf(v[i]);
        break;
    case RNN_RELU:
        for (int64_t i = 0; i < n; i++) v[i] = v[i] < 0.0f ? 0.0f : v[i];
        break;
    case RNN_AFFINE:
        for (int64_t i = 0; i < n; i++) v[i] = a * v[i] + b;
        break;
    case RNN_LEAKY_RELU:
        for (int64_t i = 0; i < n; i++) v[i] = v[i] >= 0.0f ? v[i] : a * v[i];
        break;
    case RNN_THRESHOLDED_RELU:
        for (int64_t i = 0; i < n; i++) v[i] = v[i] > a ? v[i] : 0.0f;
        break;
    case RNN_SCALED_TANH:
        for (int64_t i = 0; i < n; i++) v[i] = a * ep_tanhf(b * v[i]);
        break;
    case RNN_HARD_SIGMOID:
        for (int64_t i = 0; i < n; i++) v[i] = ep_clampf(a * v[i] + b, 0.0f, 1.0f);
        break;
    case RNN_SOFTSIGN:
        for (int64_t i = 0; i < n; i++) v[i] = v[i] / (1.0f + (v[i] < 0.0f ? -v[i] : v[i]));
        break;
    default:
        break;
    }
}

typedef struct {
    int f, g, h;                 /* activation codes */
    float fa, fb, ga, gb, ha, hb;
    int has_clip;
    float clip;
    int input_forget;
    const float *p;              /* peepholes [3n]: i, o, f; or NULL */
} lstm_cell;

/* One entry's LSTM cell: gates [4n] (i, o, f, c; overwritten), c [n] becomes C_t, h [n] gets H_t;
 * `tmp` is n floats of scratch. The operations and their order are those of _LstmCell. */
EP_INLINE void cell_step(const lstm_cell *cell, float *gates, float *c, float *h, float *tmp, int64_t n) {
    float *gi = gates, *go = gates + n, *gf = gates + 2 * n, *gc = gates + 3 * n;
    const float lo = -cell->clip, hi = cell->clip;
    if (cell->p) {
        const float *pi = cell->p, *pf = cell->p + 2 * n;
        for (int64_t j = 0; j < n; j++) gi[j] += pi[j] * c[j];
        for (int64_t j = 0; j < n; j++) gf[j] += pf[j] * c[j];
    }
    if (cell->has_clip) {
        for (int64_t j = 0; j < n; j++) gi[j] = ep_clampf(gi[j], lo, hi);
        for (int64_t j = 0; j < n; j++) gc[j] = ep_clampf(gc[j], lo, hi);
    }
    rnn_act(gi, n, cell->f, cell->fa, cell->fb);
    if (cell->input_forget) {
        for (int64_t j = 0; j < n; j++) gf[j] = 1.0f - gi[j];
    } else {
        if (cell->has_clip)
            for (int64_t j = 0; j < n; j++) gf[j] = ep_clampf(gf[j], lo, hi);
        rnn_act(gf, n, cell->f, cell->fa, cell->fb);
    }
    rnn_act(gc, n, cell->g, cell->ga, cell->gb);
    for (int64_t j = 0; j < n; j++) {
        const float kept = gf[j] * c[j], added = gi[j] * gc[j];
        c[j] = kept + added;
    }
    if (cell->p) {
        const float *po = cell->p + n;
        for (int64_t j = 0; j < n; j++) go[j] += po[j] * c[j];
    }
    if (cell->has_clip)
        for (int64_t j = 0; j < n; j++) go[j] = ep_clampf(go[j], lo, hi);
    rnn_act(go, n, cell->f, cell->fa, cell->fb);
    memcpy(tmp, c, (size_t)n * sizeof *tmp);
    rnn_act(tmp, n, cell->h, cell->ha, cell->hb);
    for (int64_t j = 0; j < n; j++) h[j] = go[j] * tmp[j];
}

/* ------------------------------------------------------------------ products */

/* out[j - j0] = sum_k h[k] rt[k][j] for j0 <= j < j1 (rt: R^T, rows of `cols` floats), summed in k
 * order: 128 columns at a time (eight independent chains of additions on AVX-512), their sums held
 * in registers while the rows stream past */
EP_INLINE void float_dots(const float *h, const float *rt, int64_t n, int64_t cols, int64_t j0, int64_t j1,
                          float *out) {
    int64_t j = j0;
    for (; j + 128 <= j1; j += 128) {
        float acc[128] = {0};
        for (int64_t k = 0; k < n; k++) {
            const float hk = h[k], *row = rt + k * cols + j;
            for (int l = 0; l < 128; l++) acc[l] += hk * row[l];
        }
        memcpy(out + (j - j0), acc, sizeof acc);
    }
    for (; j + 16 <= j1; j += 16) {
        float acc[16] = {0};
        for (int64_t k = 0; k < n; k++) {
            const float hk = h[k], *row = rt + k * cols + j;
            for (int l = 0; l < 16; l++) acc[l] += hk * row[l];
        }
        memcpy(out + (j - j0), acc, sizeof acc);
    }
    for (; j < j1; j++) {
        float s = 0.0f;
        for (int64_t k = 0; k < n; k++) s += h[k] * rt[k * cols + j];
        out[j - j0] = s;
    }
}

/* out[r][j] = sum_k a[r][k] w[j][k] (a: rows of k uint8, w: rows of k int8) for rows < rows and
 * j0 <= j < j1, four columns at a time (one load of a serves four weight rows); exact int32 sums */
EP_INLINE void int_dots_body(const uint8_t *a, int64_t lda, int64_t rows, const int8_t *w, int64_t k, int64_t j0,
                             int64_t j1, int32_t *out, int64_t ldo) {
    int64_t j = j0;
    if (rows == 1) {
        /* one row (a step's H_{t-1}): eight independent sums keep the multiply-add units busy */
        for (; j + 8 <= j1; j += 8) {
            const int8_t *w0 = w + j * k, *w1 = w0 + k, *w2 = w1 + k, *w3 = w2 + k, *w4 = w3 + k, *w5 = w4 + k,
                         *w6 = w5 + k, *w7 = w6 + k;
            int32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
            for (int64_t i = 0; i < k; i++) {
                const int32_t x = a[i];
                s0 += x * w0[i];
                s1 += x * w1[i];
                s2 += x * w2[i];
                s3 += x * w3[i];
                s4 += x * w4[i];
                s5 += x * w5[i];
                s6 += x * w6[i];
                s7 += x * w7[i];
            }
            int32_t *o = out + j;
            o[0] = s0;
            o[1] = s1;
            o[2] = s2;
            o[3] = s3;
            o[4] = s4;
            o[5] = s5;
            o[6] = s6;
            o[7] = s7;
        }
    }
    for (; j + 4 <= j1; j += 4) {
        const int8_t *w0 = w + j * k, *w1 = w0 + k, *w2 = w1 + k, *w3 = w2 + k;
        for (int64_t r = 0; r < rows; r++) {
            const uint8_t *ar = a + r * lda;
            int32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
            for (int64_t i = 0; i < k; i++) {
                const int32_t x = ar[i];
                s0 += x * w0[i];
                s1 += x * w1[i];
                s2 += x * w2[i];
                s3 += x * w3[i];
            }
            int32_t *o = out + r * ldo + j;
            o[0] = s0;
            o[1] = s1;
            o[2] = s2;
            o[3] = s3;
        }
    }
    for (; j < j1; j++) {
        const int8_t *wj = w + j * k;
        for (int64_t r = 0; r < rows; r++) {
            const uint8_t *ar = a + r * lda;
            int32_t s = 0;
            for (int64_t i = 0; i < k; i++) s += (int32_t)ar[i] * wj[i];
            out[r * ldo + j] = s;
        }
    }
}

typedef void (*int_dots_fn)(const uint8_t *, int64_t, int64_t, const int8_t *, int64_t, int64_t, int64_t, int32_t *,
                            int64_t);

EP_DISPATCH
static void int_dots_plain(const uint8_t *a, int64_t lda, int64_t rows, const int8_t *w, int64_t k, int64_t j0,
                           int64_t j1, int32_t *out, int64_t ldo) {
    int_dots_body(a, lda, rows, w, k, j0, j1, out, ldo);
}

/* AVX-512 VNNI (vpdpbusd: 64 u8 x s8 products a instruction): target_clones in GCC 12 cannot name it
 * (the x86-64-v4 clone would win the dispatch anyway), so it is a version of its own chosen at run time */
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 11 && defined(__x86_64__) && defined(__GLIBC__) && \
    !defined(EP_NO_CLONES)
#define RNN_HAVE_VNNI 1
__attribute__((target("arch=x86-64-v4,avx512vnni")))
static void int_dots_vnni(const uint8_t *a, int64_t lda, int64_t rows, const int8_t *w, int64_t k, int64_t j0,
                          int64_t j1, int32_t *out, int64_t ldo) {
    int_dots_body(a, lda, rows, w, k, j0, j1, out, ldo);
}

#include <immintrin.h>

/* The packed int8 weights the VNNI kernel reads: for each group of 128 columns and each 4 rows of k
 * (k padded to a multiple of 4 with zeros), 8 blocks x 16 columns x 4 bytes, so that one vpdpbusd
 * multiplies 4 bytes of the activations (broadcast) with 16 columns at once and the sums of each
 * column stay in their own lane: no horizontal additions. */
__attribute__((target("arch=x86-64-v4,avx512vnni")))
static void vnni_packed_dots(const uint8_t *a, int64_t lda, int64_t rows, const int8_t *packed, int64_t k4,
                             int64_t j0, int64_t j1, int32_t *out, int64_t ldo) {
    int64_t c0 = j0;
    if (rows == 1) {
        /* one row (a step's H_{t-1}): two groups at once, sixteen chains of sums and two weight
         * streams (10-25% faster than one group when the weights come from L2) */
        for (; c0 + 2 * RNN_GROUP <= j1; c0 += 2 * RNN_GROUP) {
            const int8_t *pg = packed + c0 / RNN_GROUP * k4 * (RNN_GROUP * 4), *ph = pg + k4 * (RNN_GROUP * 4);
            __m512i s[8], t[8];
#pragma GCC unroll 8
            for (int i = 0; i < 8; i++) s[i] = t[i] = _mm512_setzero_si512();
            for (int64_t k = 0; k < k4; k++) {
                int32_t x;
                memcpy(&x, a + 4 * k, 4);
                const __m512i xa = _mm512_set1_epi32(x);
                const int8_t *pk = pg + k * (RNN_GROUP * 4), *qk = ph + k * (RNN_GROUP * 4);
#pragma GCC unroll 8
                for (int i = 0; i < 8; i++) {
                    s[i] = _mm512_dpbusd_epi32(s[i], xa, _mm512_loadu_si512((const void *)(pk + 64 * i)));
                    t[i] = _mm512_dpbusd_epi32(t[i], xa, _mm512_loadu_si512((const void *)(qk + 64 * i)));
                }
            }
#pragma GCC unroll 8
            for (int i = 0; i < 8; i++) {
                _mm512_storeu_si512((void *)(out + c0 + 16 * i), s[i]);
                _mm512_storeu_si512((void *)(out + c0 + RNN_GROUP + 16 * i), t[i]);
            }
        }
    }
    for (; c0 < j1; c0 += RNN_GROUP) {
        const int8_t *pg = packed + c0 / RNN_GROUP * k4 * (RNN_GROUP * 4);
        const int64_t valid = j1 - c0 < RNN_GROUP ? j1 - c0 : RNN_GROUP;
        int64_t r = 0;
        for (; r + 2 <= rows; r += 2) {
            const uint8_t *ar = a + r * lda, *br = ar + lda;
            __m512i s[8], t[8];
#pragma GCC unroll 8
            for (int i = 0; i < 8; i++) s[i] = t[i] = _mm512_setzero_si512();
            for (int64_t k = 0; k < k4; k++) {
                int32_t x, z;
                memcpy(&x, ar + 4 * k, 4);
                memcpy(&z, br + 4 * k, 4);
                const __m512i xa = _mm512_set1_epi32(x), za = _mm512_set1_epi32(z);
                const int8_t *pk = pg + k * (RNN_GROUP * 4);
#pragma GCC unroll 8
                for (int i = 0; i < 8; i++) {
                    const __m512i wv = _mm512_loadu_si512((const void *)(pk + 64 * i));
                    s[i] = _mm512_dpbusd_epi32(s[i], xa, wv);
                    t[i] = _mm512_dpbusd_epi32(t[i], za, wv);
                }
            }
            int32_t tmp[2][RNN_GROUP];
#pragma GCC unroll 8
            for (int i = 0; i < 8; i++) {
                _mm512_storeu_si512((void *)(tmp[0] + 16 * i), s[i]);
                _mm512_storeu_si512((void *)(tmp[1] + 16 * i), t[i]);
            }
            memcpy(out + r * ldo + c0, tmp[0], (size_t)valid * sizeof(int32_t));
            memcpy(out + (r + 1) * ldo + c0, tmp[1], (size_t)valid * sizeof(int32_t));
        }
        for (; r < rows; r++) {
            const uint8_t *ar = a + r * lda;
            __m512i s[8];
#pragma GCC unroll 8
            for (int i = 0; i < 8; i++) s[i] = _mm512_setzero_si512();
            for (int64_t k = 0; k < k4; k++) {
                int32_t x;
                memcpy(&x, ar + 4 * k, 4);
                const __m512i xa = _mm512_set1_epi32(x);
                const int8_t *pk = pg + k * (RNN_GROUP * 4);
#pragma GCC unroll 8
                for (int i = 0; i < 8; i++)
                    s[i] = _mm512_dpbusd_epi32(s[i], xa, _mm512_loadu_si512((const void *)(pk + 64 * i)));
            }
            int32_t tmp[RNN_GROUP];
#pragma GCC unroll 8
            for (int i = 0; i < 8; i++) _mm512_storeu_si512((void *)(tmp + 16 * i), s[i]);
            memcpy(out + r * ldo + c0, tmp, (size_t)valid * sizeof(int32_t));
        }
    }
}
#endif

static int_dots_fn int_dots_choice(void) {
#ifdef RNN_HAVE_VNNI
    __builtin_cpu_init();
    if (__builtin_cpu_supports("x86-64-v4") && __builtin_cpu_supports("avx512vnni")) return int_dots_vnni;
#endif
    return int_dots_plain;
}

static int_dots_fn int_dots_impl(void) {
    static int_dots_fn chosen; /* a benign race: every thread stores the same pointer */
    int_dots_fn f = chosen;
    if (!f) {
        f = int_dots_choice();
        chosen = f;
    }
    return f;
}

#ifdef RNN_HAVE_VNNI
static int vnni_usable(void) { return int_dots_impl() == int_dots_vnni; }
#endif

/* Bytes of the packed form of int8 weights [cols, k] for this CPU's fastest kernel; 0 when it reads
 * them unpacked (no AVX-512 VNNI, or a build without it). */
int64_t ep_qlstm_packed_size(int64_t cols, int64_t k) {
#ifdef RNN_HAVE_VNNI
    if (vnni_usable() && cols > 0 && k > 0 && ep_sizes_fit((cols + RNN_GROUP - 1) / RNN_GROUP, (k + 3) / 4, 512))
        return (cols + RNN_GROUP - 1) / RNN_GROUP * ((k + 3) / 4) * (RNN_GROUP * 4);
#else
    (void)cols;
    (void)k;
#endif
    return 0;
}

/* packed [ep_qlstm_packed_size(cols, k) bytes] = w [cols, k] in the VNNI kernel's layout (zeros
 * where k or cols are padded); 1 when this CPU reads weights unpacked */
int ep_qlstm_pack(const int8_t *w, int64_t cols, int64_t k, int8_t *packed) {
    const int64_t size = ep_qlstm_packed_size(cols, k);
    if (size == 0) return EP_RNN_UNCOVERED;
    memset(packed, 0, (size_t)size);
    const int64_t k4 = (k + 3) / 4;
    for (int64_t j = 0; j < cols; j++) {
        const int64_t g = j / 128, i = j % 128 / 16, c = j % 16;
        for (int64_t kk = 0; kk < k; kk++)
            packed[((g * k4 + kk / 4) * 8 + i) * 64 + c * 4 + kk % 4] = w[j * k + kk];
    }
    return 0;
}

/* rows of out = a (uint8, rows of lda >= k rounded up to 4 bytes) times int8 weights: the packed
 * form when given (this CPU has AVX-512 VNNI), else w [cols, k]; for columns j0 <= j < j1, j0 a
 * multiple of 128. Exact int32 sums either way. */
static void qdots(const uint8_t *a, int64_t lda, int64_t rows, const int8_t *w, const int8_t *packed, int64_t k,
                  int64_t j0, int64_t j1, int32_t *out, int64_t ldo) {
#ifdef RNN_HAVE_VNNI
    if (packed) {
        vnni_packed_dots(a, lda, rows, packed, (k + 3) / 4, j0, j1, out, ldo);
        return;
    }
#else
    (void)packed;
#endif
    int_dots_impl()(a, lda, rows, w, k, j0, j1, out, ldo);
}

/* ------------------------------------------------------------------ uint8 quantization */

/* DynamicQuantizeLinear's uint8 parameters of v [count] over [min(v, 0), max(v, 0)], as the numpy
 * kernel computes them in float32 (_uint8_params); 0 when v is finite and the scale is a positive
 * finite number, else EP_RNN_UNCOVERED */
EP_INLINE int u8_params(const float *v, int64_t count, float *scale, int32_t *zero) {
    /* 16 lanes of running extremes (selects vectorise where a min/max reduction would need
     * -ffinite-math-only); the order does not matter for finite values */
    float hi_l[16] = {0}, lo_l[16] = {0}, bad_l[16] = {0};
    const int64_t c16 = count & ~(int64_t)15;
    for (int64_t i = 0; i < c16; i += 16)
        for (int l = 0; l < 16; l++) {
            const float x = v[i + l];
            hi_l[l] = x > hi_l[l] ? x : hi_l[l];
            lo_l[l] = x < lo_l[l] ? x : lo_l[l];
            bad_l[l] = (x - x) == 0.0f ? bad_l[l] : 1.0f; /* NaN and +-inf */
        }
    for (int64_t i = c16; i < count; i++) {
        const float x = v[i];
        hi_l[0] = x > hi_l[0] ? x : hi_l[0];
        lo_l[0] = x < lo_l[0] ? x : lo_l[0];
        bad_l[0] = (x - x) == 0.0f ? bad_l[0] : 1.0f;
    }
    float hi = 0.0f, lo = 0.0f, bad = 0.0f;
    for (int l = 0; l < 16; l++) {
        hi = hi_l[l] > hi ? hi_l[l] : hi;
        lo = lo_l[l] < lo ? lo_l[l] : lo;
        bad = bad_l[l] > bad ? bad_l[l] : bad;
    }
    if (bad != 0.0f) return EP_RNN_UNCOVERED;
    const float span = hi - lo;
    if (span == 0.0f) {
        *scale = 1.0f;
        *zero = 0;
        return 0;
    }
    const float s = span / 255.0f;
    if (!(s > 0.0f) || (s - s) != 0.0f) return EP_RNN_UNCOVERED;
    const float z = (0.0f - lo / s + 12582912.0f) - 12582912.0f; /* rint: -lo / s is in [0, 255] */
    if (!(z >= 0.0f && z <= 255.0f)) return EP_RNN_UNCOVERED;
    *scale = s;
    *zero = (int32_t)z;
    return 0;
}

/* q[i] = clip(rint(v[i] / scale) + zero, 0, 255) for finite v; returns sum q. Clamping to
 * [-zero, 255 - zero] before rounding gives the same integers (the bounds are integers). */
EP_INLINE int64_t u8_quantize(const float *v, int64_t count, float scale, int32_t zero, uint8_t *q) {
    const float lo = (float)-zero, hi = (float)(255 - zero);
    int64_t sum = 0;
    for (int64_t i = 0; i < count; i++) {
        float t = v[i] / scale;
        t = t < lo ? lo : t;
        t = t > hi ? hi : t;
        t = (t + 12582912.0f) - 12582912.0f; /* round half to even, |t| <= 255 */
        const int32_t u = (int32_t)t + zero;
        q[i] = (uint8_t)u;
        sum += u;
    }
    return sum;
}

/* ------------------------------------------------------------------ the int8 input projection */

typedef struct {
    const uint8_t *xq; /* rows of lda bytes */
    const int64_t *row_sums;
    int64_t rows, k, lda, cols;
    const int8_t *w, *packed;
    const int32_t *w_sums;
    int32_t w_zero, x_zero;
    const float *scale;
    float *y;
    int32_t *acc;
    int64_t parts;
} project_job;

/* rows of y = (q_x - x_zero)(w - w_zero) * scale exactly (int64 zero-point terms, one rounding to
 * float as onnxruntime and the numpy kernel convert), for part `part` of the columns */
EP_DISPATCH
static int project_part(void *ctx, int64_t part) {
    const project_job *jb = ctx;
    int64_t j0, j1;
    ep_part_range(jb->cols, jb->parts, part, RNN_GROUP, &j0, &j1);
    if (j0 >= j1) return 0;
    /* rows a pass: their quantized values (about 24 KiB) stay in L1 while every weight row meets them */
    const int64_t block = jb->k < 6144 ? 24576 / jb->k : 4;
    for (int64_t r0 = 0; r0 < jb->rows; r0 += block) {
        const int64_t rows = jb->rows - r0 < block ? jb->rows - r0 : block;
        int32_t *acc = jb->acc + r0 * jb->cols;
        qdots(jb->xq + r0 * jb->lda, jb->lda, rows, jb->w, jb->packed, jb->k, j0, j1, acc, jb->cols);
        for (int64_t r = 0; r < rows; r++) {
            const int64_t rs = jb->row_sums[r0 + r], kz = jb->k * (int64_t)jb->x_zero * jb->w_zero;
            const int32_t *a = acc + r * jb->cols;
            float *y = jb->y + (r0 + r) * jb->cols;
            for (int64_t j = j0; j < j1; j++) {
                const int64_t exact = a[j] - (int64_t)jb->x_zero * jb->w_sums[j] - rs * jb->w_zero + kz;
                y[j] = (float)exact * jb->scale[j];
            }
        }
    }
    return 0;
}

/* Quantizes x [rows, k] with (x_scale, x_zero) (finite x, checked by the caller) and writes
 * y [rows, cols] = (q - x_zero) (w^T - w_zero) * scale[col], w [cols, k] int8 (w_packed: its
 * ep_qlstm_pack form, or NULL). */
EP_DISPATCH
int ep_qlstm_project_f32(const float *x, int64_t rows, int64_t k, float x_scale, int32_t x_zero, const int8_t *w,
                         const int8_t *w_packed, const int32_t *w_sums, int32_t w_zero, int64_t cols,
                         const float *scale, float *y, int64_t threads) {
    if (rows <= 0 || cols <= 0) return 0;
    if (k > RNN_MAX_K) return EP_RNN_UNCOVERED;
    const int64_t lda = (k + 3) / 4 * 4;
    if (k <= 0 || !ep_sizes_fit(rows, lda, 1) || !ep_sizes_fit(rows, cols, 2)) return EP_RNN_NO_MEMORY;
    uint8_t *xq = calloc((size_t)rows, (size_t)lda);
    int64_t *row_sums = malloc((size_t)rows * sizeof *row_sums);
    int32_t *acc = malloc((size_t)(rows * cols) * sizeof *acc);
    int rc = EP_RNN_NO_MEMORY;
    if (xq && row_sums && acc) {
        for (int64_t r = 0; r < rows; r++) row_sums[r] = u8_quantize(x + r * k, k, x_scale, x_zero, xq + r * lda);
        project_job jb = {xq, row_sums, rows, k, lda, cols, w, w_packed, w_sums, w_zero, x_zero, scale, y, acc, 1};
        jb.parts = ep_parts_for(threads, rnn_work(rows, cols, k), RNN_GRAIN);
        rc = ep_parallel_for(threads, jb.parts, project_part, &jb);
    }
    free(xq);
    free(row_sums);
    free(acc);
    return rc;
}

/* ------------------------------------------------------------------ the recurrence */

typedef struct {
    int64_t batch, n;
    /* float R^T [n, 4n], or int8 R [4n, n] with its row sums and zero point */
    const float *rf;
    const int8_t *rq, *rpacked;
    int64_t lda;              /* bytes a row of hq */
    const int32_t *r_sums;
    int32_t r_zero;
    const uint8_t *hq;        /* this step's quantized H_{t-1} [batch, n] */
    const float *h;           /* this step's H_{t-1} [batch, n] (float R) */
    const unsigned char *active; /* [batch]: entries whose products this step needs */
    int32_t *acc;             /* [batch, 4n] int32 products */
    float *gates;             /* [batch, 4n] float products */
    int64_t parts;
} step_job;

EP_INLINE int step_part(void *ctx, int64_t part) {
    const step_job *jb = ctx;
    const int64_t cols = 4 * jb->n;
    int64_t j0, j1;
    ep_part_range(cols, jb->parts, part, RNN_GROUP, &j0, &j1);
    for (int64_t b = 0; b < jb->batch; b++) {
        if (!jb->active[b] || j0 >= j1) continue;
        if (jb->rq)
            qdots(jb->hq + b * jb->lda, jb->lda, 1, jb->rq, jb->rpacked, jb->n, j0, j1, jb->acc + b * cols, cols);
        else
            float_dots(jb->h + b * jb->n, jb->rf, jb->n, cols, j0, j1, jb->gates + b * cols + j0);
    }
    return 0;
}

static int int_step_part(void *ctx, int64_t part) { return step_part(ctx, part); }

EP_DISPATCH
static int float_step_part(void *ctx, int64_t part) { return step_part(ctx, part); }

/* One direction of an LSTM, every step of `seq` in processing order.
 *
 * xw [seq, batch, 4n]: the input projection (float: with both biases; int8: without). R: float R^T
 * [n, 4n] (rf), or int8 R [4n, n] (rq) with r_sums [4n] (sum over k of each row), r_zero and r_scale [4n] (int8: the
 * scaled products get + xw + bias [4n], as quantized_lstm._quantized_gates adds them). h0, c0
 * [batch, n]; lens [batch] or NULL (all seq). y [seq, batch, n] gets H_t, zeros past an entry's
 * length (H * 0, as the numpy kernel masks); h_out, c_out [batch, n] the last states (finished
 * entries keep theirs). With `zero_finished` (int8 only), a finished entry's H_{t-1} is quantized as
 * H * 0. Returns 0, EP_RNN_UNCOVERED (int8: the caller runs the numpy kernel) or EP_RNN_NO_MEMORY. */
EP_INLINE int lstm_direction(const float *xw, const float *rf, const int8_t *rq, const int8_t *rpacked,
                             const int32_t *r_sums, int32_t r_zero,
                          const float *r_scale, const float *bias, const float *h0, const float *c0, const int64_t *lens,
                          int zero_finished, float *y, float *h_out, float *c_out, int64_t seq, int64_t batch, int64_t n,
                          const lstm_cell *cell, int64_t threads) {
    if (batch <= 0 || n <= 0) return 0;
    const int64_t cols = 4 * n;
    if (!ep_sizes_fit(batch, cols, 4) || !ep_sizes_fit(seq > 0 ? seq : 1, batch, n)) return EP_RNN_NO_MEMORY;
    float *gates = malloc((size_t)(batch * cols) * sizeof *gates);
    float *seen = malloc((size_t)(batch * n) * sizeof *seen);
    float *tmp = malloc((size_t)n * sizeof *tmp);
    int32_t *acc = rq ? malloc((size_t)(batch * cols) * sizeof *acc) : NULL;
    const int64_t lda = (n + 3) / 4 * 4;
    uint8_t *hq = rq ? calloc((size_t)batch, (size_t)lda) : NULL;
    int64_t *q_sums = rq ? malloc((size_t)batch * sizeof *q_sums) : NULL;
    float *hs = rq ? malloc((size_t)cols * sizeof *hs) : NULL;
    unsigned char *active = malloc((size_t)batch);
    int rc = 0;
    if (!gates || !seen || !tmp || !active || (rq && (!acc || !hq || !q_sums || !hs))) {
        rc = EP_RNN_NO_MEMORY;
        goto done;
    }
    memcpy(h_out, h0, (size_t)(batch * n) * sizeof *h_out);
    memcpy(c_out, c0, (size_t)(batch * n) * sizeof *c_out);
    int64_t steps = seq;
    if (lens) {
        steps = 0;
        for (int64_t b = 0; b < batch; b++) steps = lens[b] > steps ? lens[b] : steps;
    }
    step_job jb = {batch, n, rf, rq, rpacked, lda, r_sums, r_zero, hq, seen, active, acc, gates, 1};
    jb.parts = ep_parts_for(threads, rnn_work(batch, cols, n), RNN_GRAIN);
    for (int64_t t = 0; t < steps; t++) {
        for (int64_t b = 0; b < batch; b++) {
            active[b] = !lens || t < lens[b];
            const int finished_before = lens && t > 0 && !(t - 1 < lens[b]);
            const float *hb = h_out + b * n;
            float *sb = seen + b * n;
            if (zero_finished && finished_before)
                for (int64_t j = 0; j < n; j++) sb[j] = hb[j] * 0.0f;
            else
                memcpy(sb, hb, (size_t)n * sizeof *sb);
        }
        float h_scale = 1.0f;
        int32_t h_zero = 0;
        if (rq) {
            /* H_{t-1} of the whole batch shares one scale (finished entries included) */
            if (u8_params(seen, batch * n, &h_scale, &h_zero) != 0) {
                rc = EP_RNN_UNCOVERED;
                goto done;
            }
            for (int64_t b = 0; b < batch; b++) q_sums[b] = u8_quantize(seen + b * n, n, h_scale, h_zero, hq + b * lda);
            for (int64_t j = 0; j < cols; j++) hs[j] = h_scale * r_scale[j];
        }
        rc = ep_parallel_for(threads, jb.parts, rq ? int_step_part : float_step_part, &jb);
        if (rc != 0) goto done;
        const float *xt = xw + t * batch * cols;
        for (int64_t b = 0; b < batch; b++) {
            float *yb = y + (t * batch + b) * n, *hb = h_out + b * n;
            if (!active[b]) {
                for (int64_t j = 0; j < n; j++) yb[j] = hb[j] * 0.0f;
                continue;
            }
            float *g = gates + b * cols;
            const float *xb = xt + b * cols;
            if (rq) {
                const int32_t *a = acc + b * cols;
                const int64_t zs = (int64_t)h_zero, corr = q_sums[b] * r_zero, kz = n * zs * r_zero;
                /* three roundings, as numpy's passes: gates *= scale; gates += xw; gates += bias */
                for (int64_t j = 0; j < cols; j++) {
                    const int64_t exact = a[j] - zs * r_sums[j] - corr + kz;
                    const float scaled = (float)exact * hs[j], with_x = scaled + xb[j];
                    g[j] = with_x + bias[j];
                }
            } else {
                for (int64_t j = 0; j < cols; j++) g[j] += xb[j];
            }
            cell_step(cell, g, c_out + b * n, hb, tmp, n);
            memcpy(yb, hb, (size_t)n * sizeof *yb);
        }
    }
    if (steps < seq) memset(y + steps * batch * n, 0, (size_t)((seq - steps) * batch * n) * sizeof *y);
done:
    free(gates);
    free(seen);
    free(tmp);
    free(acc);
    free(hq);
    free(q_sums);
    free(hs);
    free(active);
    return rc;
}

static int cell_of(const int32_t *acts, const float *alpha, const float *beta, float clip, int64_t has_clip,
                   int64_t input_forget, const float *p, lstm_cell *cell) {
    for (int i = 0; i < 3; i++)
        if (acts[i] < 0 || acts[i] >= RNN_ACT_COUNT) return EP_RNN_UNCOVERED;
    *cell = (lstm_cell){acts[0], acts[1], acts[2], alpha[0], beta[0], alpha[1], beta[1], alpha[2], beta[2],
                        has_clip != 0, clip, input_forget != 0, p};
    return 0;
}

/* A float32 LSTM direction: xw [seq, batch, 4n] = X W^T + Wb + Rb, rt = R^T [n, 4n]; see lstm_direction.
 * acts/alpha/beta: the three activations f, g, h (RNN_* codes); p [3n] or NULL. */
EP_DISPATCH
int ep_lstm_f32(const float *xw, const float *r, const float *p, const float *h0, const float *c0, const int64_t *lens,
                float *y, float *h_out, float *c_out, int64_t seq, int64_t batch, int64_t n, const int32_t *acts,
                const float *alpha, const float *beta, float clip, int64_t has_clip, int64_t input_forget,
                int64_t threads) {
    lstm_cell cell;
    if (cell_of(acts, alpha, beta, clip, has_clip, input_forget, p, &cell) != 0) return EP_RNN_UNCOVERED;
    return lstm_direction(xw, r, NULL, NULL, NULL, 0, NULL, NULL, h0, c0, lens, 0, y, h_out, c_out, seq, batch, n, &cell,
                          threads);
}

/* xw [seq, batch, cols] = x W^T + bias for the steps in processing order: x [seq, batch, k] (read from
 * the last step back with `reverse`), wt = W^T [k, cols], each sum in k order (float_dots), then + bias */
EP_DISPATCH
static void project_steps(const float *x, int64_t seq, int64_t batch, int64_t k, int reverse, const float *wt,
                          const float *bias, int64_t cols, float *xw) {
    for (int64_t t = 0; t < seq; t++) {
        const float *xt = x + (reverse ? seq - 1 - t : t) * batch * k;
        for (int64_t b = 0; b < batch; b++) {
            float *out = xw + (t * batch + b) * cols;
            float_dots(xt + b * k, wt, k, cols, 0, cols, out);
            for (int64_t j = 0; j < cols; j++) out[j] += bias[j];
        }
    }
}

/* A float32 LSTM direction from X itself, for few steps (rnn.py's PROJECT_ROWS): X [seq, batch, k] in time
 * order (`reverse`: the direction runs from the last step), wt = W^T [k, 4n], bias [4n] = Wb + Rb; the
 * input projection in C (one call for the node's per-run work), then ep_lstm_f32's recurrence (no
 * sequence_lens). */
EP_DISPATCH
int ep_lstm_x_f32(const float *x, int64_t k, int64_t reverse, const float *wt, const float *bias, const float *r,
                  const float *p, const float *h0, const float *c0, float *y, float *h_out, float *c_out, int64_t seq,
                  int64_t batch, int64_t n, const int32_t *acts, const float *alpha, const float *beta, float clip,
                  int64_t has_clip, int64_t input_forget, int64_t threads) {
    lstm_cell cell;
    if (cell_of(acts, alpha, beta, clip, has_clip, input_forget, p, &cell) != 0) return EP_RNN_UNCOVERED;
    if (seq <= 0 || batch <= 0 || n <= 0) return 0;
    if (k <= 0 || !ep_sizes_fit(seq * batch, 4 * n, 4)) return EP_RNN_NO_MEMORY;
    float *xw = malloc((size_t)(seq * batch * 4 * n) * sizeof *xw);
    if (!xw) return EP_RNN_NO_MEMORY;
    project_steps(x, seq, batch, k, reverse != 0, wt, bias, 4 * n, xw);
    const int rc = lstm_direction(xw, r, NULL, NULL, NULL, 0, NULL, NULL, h0, c0, NULL, 0, y, h_out, c_out, seq, batch,
                                  n, &cell, threads);
    free(xw);
    return rc;
}

/* A DynamicQuantizeLSTM direction: xw [seq, batch, 4n] = the scaled integer input projection
 * (ep_qlstm_project_f32), r [4n, n] int8 (uint8 weights are stored as w - 128 with the zero point
 * moved by the same amount) and r_packed its ep_qlstm_pack form (or NULL), r_sums [4n], r_zero, r_scale [4n], bias [4n] = Wb + Rb; see
 * lstm_direction. */
EP_DISPATCH
int ep_qlstm_f32(const float *xw, const int8_t *r, const int8_t *r_packed, const int32_t *r_sums, int32_t r_zero,
                 const float *r_scale, const float *bias, const float *p, const float *h0, const float *c0, const int64_t *lens,
                 int64_t zero_finished, float *y, float *h_out, float *c_out, int64_t seq, int64_t batch, int64_t n,
                 const int32_t *acts, const float *alpha, const float *beta, float clip, int64_t has_clip,
                 int64_t input_forget, int64_t threads) {
    lstm_cell cell;
    if (n > RNN_MAX_K || cell_of(acts, alpha, beta, clip, has_clip, input_forget, p, &cell) != 0)
        return EP_RNN_UNCOVERED;
    return lstm_direction(xw, NULL, r, r_packed, r_sums, r_zero, r_scale, bias, h0, c0, lens, zero_finished != 0, y, h_out,
                          c_out, seq, batch, n, &cell, threads);
}
