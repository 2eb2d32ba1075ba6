/* dynamicquantizelstm.c: default com.microsoft DynamicQuantizeLSTM kernel. X is quantized once and
 * projected four rows by four columns of byte dot products (exact int32 sums), one direction at a time;
 * per step H_{t-1} is quantized and multiplied by R^T's int8 rows eight at a time (eight independent
 * sums over contiguous bytes, which compilers turn into byte dot product instructions), the sums scaled
 * and added to the projection, then ep_lstm_cell. */
#include <math.h>
#include <string.h>

#include "dynamicquantizelstm.h"

/* floats of scratch n bytes take */
static int64_t bytes_in_floats(int64_t n)
{
    return (n + (int64_t)sizeof(float) - 1) / (int64_t)sizeof(float);
}

int64_t ep_dynamicquantizelstm_scratch_size(int64_t seq, int64_t batch, int64_t input, int64_t hidden)
{
    int64_t g4 = 4 * hidden;
    return 3 * batch * hidden + 2 * batch * g4 + 2 * g4 + seq * batch * g4 + batch +
           bytes_in_floats(seq * batch * input) + bytes_in_floats(batch * hidden);
}

static const int64_t default_acts[3] = {EP_ACT_SIGMOID, EP_ACT_TANH, EP_ACT_TANH};
static const float no_params[3] = {0.0f, 0.0f, 0.0f};

/* DynamicQuantizeLinear's uint8 scale and zero point of v[0..n) over [min(v, 0), max(v, 0)], in float32
 * as the cpu provider computes them; 0 when some v is not finite or the scale is not a positive finite
 * number (the products then are NaN), else 1. */
static int u8_params(const float *v, int64_t n, float *scale, int32_t *zero)
{
    /* 16 lanes of running extremes, so that the selects vectorise (the order does not matter for finite
     * values); `bad` flags NaN and infinities (t - t is not 0) */
    float hi_l[16], lo_l[16], bad_l[16], hi = 0.0f, lo = 0.0f, bad = 0.0f, span, s, z;
    const int64_t n16 = n - n % 16;
    int64_t i;
    int l;
    for (l = 0; l < 16; ++l) {
        hi_l[l] = lo_l[l] = bad_l[l] = 0.0f;
    }
    for (i = 0; i < n16; i += 16) {
        for (l = 0; l < 16; ++l) {
            const float t = v[i + l];
            hi_l[l] = t > hi_l[l] ? t : hi_l[l];
            lo_l[l] = t < lo_l[l] ? t : lo_l[l];
            bad_l[l] = (t - t) == 0.0f ? bad_l[l] : 1.0f;
        }
    }
    for (i = n16; i < n; ++i) {
        const float t = v[i];
        hi_l[0] = t > hi_l[0] ? t : hi_l[0];
        lo_l[0] = t < lo_l[0] ? t : lo_l[0];
        bad_l[0] = (t - t) == 0.0f ? bad_l[0] : 1.0f;
    }
    for (l = 0; l < 16; ++l) {
        hi = hi_l[l] > hi ? hi_l[l] : hi;
        lo = lo_l[l] < lo ? lo_l[l] : lo;
        bad = bad_l[l] > bad ? bad_l[l] : bad;
    }
    *scale = 1.0f;
    *zero = 0;
    if (bad != 0.0f) {
        return 0;
    }
    span = hi - lo;
    if (span == 0.0f) {
        return 1;
    }
    s = span / 255.0f;
    if (!(s > 0.0f) || (s - s) != 0.0f) {
        return 0;
    }
    z = (0.0f - lo / s + 12582912.0f) - 12582912.0f; /* rint: -lo / s lies in [0, 255] */
    if (!(z >= 0.0f && z <= 255.0f)) {
        return 0;
    }
    *scale = s;
    *zero = (int32_t)z;
    return 1;
}

/* q[i] = clip(rint(v[i] / scale) + zero, 0, 255) for finite v (clamping before rounding gives the same
 * integers: the bounds are integers); returns the sum of q. */
static int64_t u8_quantize(const float *v, int64_t n, float scale, int32_t zero, uint8_t *q)
{
    const float lo = (float)-zero, hi = (float)(255 - zero);
    int64_t i, sum = 0;
    for (i = 0; i < n; ++i) {
        float t = v[i] / scale;
        int32_t u;
        t = t < lo ? lo : t;
        t = t > hi ? hi : t;
        t = (t + 12582912.0f) - 12582912.0f; /* round half to even, |t| <= 255 */
        u = (int32_t)t + zero;
        q[i] = (uint8_t)u;
        sum += u;
    }
    return sum;
}

/* out[j] = sum_{i < k} a[i] * w[j * k + i] for j < cols (a: k unsigned bytes, w: cols rows of k signed
 * bytes), exact in int32 (k <= EP_DQLSTM_MAX_K): eight rows at a time, eight independent sums */
static void dots_row(const uint8_t *restrict a, const int8_t *restrict w, int64_t k, int64_t cols,
                     int32_t *restrict out)
{
    int64_t j = 0, i;
    for (; j + 8 <= cols; j += 8) {
        const int8_t *restrict w0 = w + j * k;
        const int8_t *restrict w1 = w0 + k;
        const int8_t *restrict w2 = w1 + k;
        const int8_t *restrict w3 = w2 + k;
        const int8_t *restrict w4 = w3 + k;
        const int8_t *restrict w5 = w4 + k;
        const int8_t *restrict w6 = w5 + k;
        const int8_t *restrict w7 = w6 + k;
        int32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
        for (i = 0; i < k; ++i) {
            const int32_t v = a[i];
            s0 += v * w0[i];
            s1 += v * w1[i];
            s2 += v * w2[i];
            s3 += v * w3[i];
            s4 += v * w4[i];
            s5 += v * w5[i];
            s6 += v * w6[i];
            s7 += v * w7[i];
        }
        out[j] = s0;
        out[j + 1] = s1;
        out[j + 2] = s2;
        out[j + 3] = s3;
        out[j + 4] = s4;
        out[j + 5] = s5;
        out[j + 6] = s6;
        out[j + 7] = s7;
    }
    for (; j < cols; ++j) {
        const int8_t *restrict wj = w + j * k;
        int32_t s = 0;
        for (i = 0; i < k; ++i) {
            s += (int32_t)a[i] * wj[i];
        }
        out[j] = s;
    }
}

/* EP_OK when every prepared weight descriptor has its type and size for the geometry */
static int check_weights(const ep_tensor *wt, const ep_tensor *w_sums, const ep_tensor *w_scale, const ep_tensor *rt,
                         const ep_tensor *r_sums, const ep_tensor *r_scale, const ep_rnn_geometry *g)
{
    const ep_tensor *sums[2], *scales[2];
    int k, rc = ep_check_dtype(wt, EP_INT8);
    if (rc == EP_OK) {
        rc = ep_check_dtype(rt, EP_INT8);
    }
    sums[0] = w_sums;
    sums[1] = r_sums;
    scales[0] = w_scale;
    scales[1] = r_scale;
    for (k = 0; k < 2 && rc == EP_OK; ++k) {
        if (sums[k] == NULL || scales[k] == NULL) {
            return EP_ERR_ARG;
        }
        rc = ep_check_dtype(sums[k], EP_INT32);
        if (rc == EP_OK) {
            rc = ep_check(scales[k]);
        }
        if (rc == EP_OK && (ep_numel(sums[k]) != g->dirs * 4 * g->hidden ||
                            ep_numel(scales[k]) != g->dirs * 4 * g->hidden)) {
            rc = EP_ERR_SHAPE;
        }
    }
    return rc;
}

/* Where the scratch of one call lies (ep_dynamicquantizelstm_scratch_size's parts, floats first). */
typedef struct dq_scratch {
    float *seen;   /* batch x H: H_{t-1} as quantized (finished entries as zeros with zero_finished) */
    float *h, *c;  /* batch x H: the running direction's states */
    float *gates;  /* batch x 4H */
    float *xs;     /* 4H: x_scale * w_scale */
    float *hs;     /* 4H: h_scale * r_scale */
    int32_t *xacc; /* max_len x batch x 4H: the integer input projection, in time order */
    int32_t *racc; /* batch x 4H: the step's integer recurrent products */
    int32_t *qsum; /* batch: each entry's sum of its quantized H */
    uint8_t *xq;   /* max_len x batch x input: X quantized, in time order */
    uint8_t *hq;   /* batch x H */
} dq_scratch;

static void dq_layout(float *base, const ep_rnn_geometry *g, dq_scratch *sc)
{
    int64_t bh = g->batch * g->hidden, g4 = 4 * g->hidden;
    sc->seen = base;
    sc->h = sc->seen + bh;
    sc->c = sc->h + bh;
    sc->gates = sc->c + bh;
    sc->xs = sc->gates + g->batch * g4;
    sc->hs = sc->xs + g4;
    sc->xacc = (int32_t *)(void *)(sc->hs + g4);
    sc->racc = sc->xacc + g->seq * g->batch * g4;
    sc->qsum = sc->racc + g->batch * g4;
    sc->xq = (uint8_t *)(void *)(sc->qsum + g->batch);
    sc->hq = sc->xq + bytes_in_floats(g->seq * g->batch * g->input) * (int64_t)sizeof(float);
}

/* out[r * ldo + j] = sum_{i < k} a_r[i] * w[j * k + i] for the four rows a_r and the four columns j < 4
 * (signed rows of k bytes from w on): sixteen independent exact int32 sums (k <= EP_DQLSTM_MAX_K), each loaded
 * byte serving four of them (256-bit vectors, GCC's choice here, beat 512-bit ones for k = 128: fewer bytes
 * in each sum's horizontal reduction) */
static void dots_4x4(const uint8_t *const *a, const int8_t *w, int64_t k, int32_t *out, int64_t ldo)
{
    const uint8_t *restrict u0 = a[0];
    const uint8_t *restrict u1 = a[1];
    const uint8_t *restrict u2 = a[2];
    const uint8_t *restrict u3 = a[3];
    const int8_t *restrict s0 = w;
    const int8_t *restrict s1 = w + k;
    const int8_t *restrict s2 = w + 2 * k;
    const int8_t *restrict s3 = w + 3 * k;
    int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, b0 = 0, b1 = 0, b2 = 0, b3 = 0;
    int32_t c0 = 0, c1 = 0, c2 = 0, c3 = 0, d0 = 0, d1 = 0, d2 = 0, d3 = 0;
    int64_t i;
    for (i = 0; i < k; ++i) {
        const int32_t w0 = s0[i], w1 = s1[i], w2 = s2[i], w3 = s3[i];
        int32_t v = u0[i], t = u1[i];
        a0 += v * w0;
        a1 += v * w1;
        a2 += v * w2;
        a3 += v * w3;
        b0 += t * w0;
        b1 += t * w1;
        b2 += t * w2;
        b3 += t * w3;
        v = u2[i];
        t = u3[i];
        c0 += v * w0;
        c1 += v * w1;
        c2 += v * w2;
        c3 += v * w3;
        d0 += t * w0;
        d1 += t * w1;
        d2 += t * w2;
        d3 += t * w3;
    }
    out[0] = a0, out[1] = a1, out[2] = a2, out[3] = a3;
    out += ldo;
    out[0] = b0, out[1] = b1, out[2] = b2, out[3] = b3;
    out += ldo;
    out[0] = c0, out[1] = c1, out[2] = c2, out[3] = c3;
    out += ldo;
    out[0] = d0, out[1] = d1, out[2] = d2, out[3] = d3;
}

/* bytes of W one block of the projection's columns takes at most: every row of X meets a block (kept in L2)
 * before the next one, so that a W over L2 (megabytes in the larger models) is read from memory once */
#define EP_DQ_W_BLOCK (256 * 1024)

/* the input projection of direction d over the first `rows` rows of xq (time order) into xacc:
 * sum (q_x - x_zero)(w - w_zero), exact (|each| <= 255 * 255 * k < 2^31): the raw byte products four rows
 * by four columns (cols = 4 hidden: whole groups; the last row repeated past `rows`, its sums not kept),
 * then the zero-point terms */
static void project(const dq_scratch *sc, const ep_rnn_geometry *g, int64_t rows, int32_t x_zero, const int8_t *wd,
                    const int32_t *wsum, int64_t w_zero)
{
    int64_t g4 = 4 * g->hidden, k = g->input, block, j0, r, j, i, c, q;
    int32_t tile[4 * 4];
    if (rows == 0) {
        return;
    }
    if (k == 0) {
        memset(sc->xacc, 0, (size_t)(rows * g4) * sizeof(int32_t));
        return;
    }
    block = EP_DQ_W_BLOCK / (4 * k) * 4; /* whole groups of four columns */
    block = block < 4 ? 4 : block;
    for (j0 = 0; j0 < g4; j0 += block) {
        const int64_t j1 = g4 - j0 < block ? g4 : j0 + block;
        for (r = 0; r < rows; r += 4) {
            const uint8_t *a[4];
            const int64_t nr = rows - r < 4 ? rows - r : 4;
            const int64_t ld = nr == 4 ? g4 : 4;
            int64_t xsum[4];
            for (i = 0; i < 4; ++i) {
                int64_t tot = 0;
                a[i] = sc->xq + (r + (i < nr ? i : nr - 1)) * k;
                for (q = 0; q < k; ++q) {
                    tot += a[i][q];
                }
                xsum[i] = tot;
            }
            for (j = j0; j < j1; j += 4) {
                int32_t *dst = nr == 4 ? sc->xacc + r * g4 + j : tile;
                dots_4x4(a, wd + j * k, k, dst, ld);
                for (i = 0; i < nr; ++i) {
                    int32_t *o = sc->xacc + (r + i) * g4 + j;
                    const int32_t *src = dst + i * ld;
                    for (c = 0; c < 4; ++c) {
                        o[c] = (int32_t)((int64_t)src[c] - x_zero * (int64_t)wsum[j + c] - w_zero * xsum[i] +
                                         k * (int64_t)x_zero * w_zero);
                    }
                }
            }
        }
    }
}

int ep_dynamicquantizelstm(const ep_tensor *x, const ep_tensor *wt, const ep_tensor *w_sums, const ep_tensor *w_scale,
                           const ep_tensor *rt, const ep_tensor *r_sums, const ep_tensor *r_scale,
                           const int64_t *zero_points, const ep_tensor *b, const ep_tensor *seq_lens,
                           const ep_tensor *initial_h, const ep_tensor *initial_c, const ep_tensor *p, ep_tensor *y,
                           ep_tensor *y_h, ep_tensor *y_c, int32_t direction, const int64_t *acts, const float *alpha,
                           const float *beta, float clip, int32_t input_forget, int32_t zero_finished,
                           float *scratch)
{
    ep_rnn_geometry g;
    dq_scratch sc;
    int64_t g4, n, state, d, s, bi, j, max_len;
    float x_scale;
    int32_t x_zero;
    int x_ok;
    const ep_tensor *opt[] = {b, initial_h, initial_c, p, y, y_h, y_c, x};
    int rc = ep_rnn_setup(x, wt, rt, 0, opt, 8, direction, 0, clip, 4, &g);
    if (rc == EP_OK) {
        rc = check_weights(wt, w_sums, w_scale, rt, r_sums, r_scale, &g);
    }
    if (rc == EP_OK) {
        rc = ep_rnn_check_lens(seq_lens, g.batch, g.seq);
    }
    if (rc != EP_OK) {
        return rc;
    }
    n = g.hidden;
    g4 = 4 * n;
    state = g.dirs * g.batch * n;
    if ((b && ep_numel(b) != g.dirs * 8 * n) || (p && ep_numel(p) != g.dirs * 3 * n) ||
        (initial_h && ep_numel(initial_h) != state) || (initial_c && ep_numel(initial_c) != state) ||
        (y && ep_numel(y) != g.seq * state) || (y_h && ep_numel(y_h) != state) || (y_c && ep_numel(y_c) != state)) {
        return EP_ERR_SHAPE;
    }
    if ((input_forget != 0 && input_forget != 1) || zero_points == NULL || g.input > EP_DQLSTM_MAX_K ||
        n > EP_DQLSTM_MAX_K || (acts != NULL && (alpha == NULL || beta == NULL || !ep_rnn_kinds_ok(acts, 3 * g.dirs))) ||
        (scratch == NULL && ep_dynamicquantizelstm_scratch_size(g.seq, g.batch, g.input, n) > 0)) {
        return EP_ERR_ARG;
    }
    for (d = 0; d < 2 * g.dirs; ++d) {
        if (zero_points[d] < -128 || zero_points[d] > 127) {
            return EP_ERR_ARG;
        }
    }
    if (y) {
        memset(y->data, 0, (size_t)(g.seq * state) * sizeof(float)); /* steps past an entry's length stay zero */
    }
    max_len = g.seq;
    if (seq_lens) {
        max_len = 0;
        for (bi = 0; bi < g.batch; ++bi) {
            int64_t len = ((const int32_t *)seq_lens->data)[bi];
            max_len = len > max_len ? len : max_len;
        }
    }
    if (g.batch == 0 || n == 0) {
        return EP_OK;
    }
    dq_layout(scratch, &g, &sc);
    /* X of the steps up to the longest sequence, quantized once (the same rows serve both directions) */
    x_ok = u8_params((const float *)x->data, max_len * g.batch * g.input, &x_scale, &x_zero);
    if (x_ok) {
        u8_quantize((const float *)x->data, max_len * g.batch * g.input, x_scale, x_zero, sc.xq);
    }

    for (d = 0; d < g.dirs; ++d) {
        const int8_t *rd = (const int8_t *)rt->data + d * g4 * n;
        const int32_t *rsum = (const int32_t *)r_sums->data + d * g4;
        const float *ws = (const float *)w_scale->data + d * g4;
        const float *rs = (const float *)r_scale->data + d * g4;
        const float *wb = b ? (const float *)b->data + d * 8 * n : NULL;
        const float *pd = p ? (const float *)p->data + d * 3 * n : NULL;
        const int64_t *act = acts ? acts + 3 * d : default_acts;
        const float *al = acts ? alpha + 3 * d : no_params;
        const float *be = acts ? beta + 3 * d : no_params;
        const int64_t r_zero = zero_points[g.dirs + d];
        int reverse = direction == EP_RNN_REVERSE || d == 1;
        if (x_ok) {
            project(&sc, &g, max_len * g.batch, x_zero, (const int8_t *)wt->data + d * g4 * g.input,
                    (const int32_t *)w_sums->data + d * g4, zero_points[d]);
        }
        for (j = 0; j < g4; ++j) {
            sc.xs[j] = x_scale * ws[j];
        }
        ep_rnn_load_state(initial_h, &g, d, sc.h);
        ep_rnn_load_state(initial_c, &g, d, sc.c);
        for (s = 0; s < max_len; ++s) {
            float h_scale;
            int32_t h_zero;
            int h_ok;
            for (bi = 0; bi < g.batch; ++bi) {
                const float *hb = sc.h + bi * n;
                float *sb = sc.seen + bi * n;
                int finished_before = seq_lens && s > 0 && s - 1 >= ((const int32_t *)seq_lens->data)[bi];
                if (zero_finished && finished_before) {
                    for (j = 0; j < n; ++j) {
                        sb[j] = hb[j] * 0.0f;
                    }
                } else {
                    memcpy(sb, hb, (size_t)n * sizeof(float));
                }
            }
            /* H_{t-1} of the whole batch shares one scale (finished entries included) */
            h_ok = u8_params(sc.seen, g.batch * n, &h_scale, &h_zero);
            for (j = 0; j < g4; ++j) {
                sc.hs[j] = h_scale * rs[j];
            }
            for (bi = 0; bi < g.batch; ++bi) {
                int64_t t = ep_rnn_time(seq_lens, &g, s, bi, reverse);
                const int32_t *xa;
                const int32_t *ra = sc.racc + bi * g4;
                float *gb = sc.gates + bi * g4;
                float *hb = sc.h + bi * n;
                if (t < 0) {
                    continue;
                }
                xa = sc.xacc + (t * g.batch + bi) * g4;
                if (h_ok) {
                    const int64_t qs = u8_quantize(sc.seen + bi * n, n, h_scale, h_zero, sc.hq + bi * n);
                    const int64_t corr = qs * r_zero - n * (int64_t)h_zero * r_zero;
                    dots_row(sc.hq + bi * n, rd, n, g4, sc.racc + bi * g4);
                    for (j = 0; j < g4; ++j) {
                        const int64_t exact = (int64_t)ra[j] - (int64_t)h_zero * rsum[j] - corr;
                        gb[j] = (float)exact * sc.hs[j];
                    }
                } else {
                    for (j = 0; j < g4; ++j) {
                        gb[j] = NAN;
                    }
                }
                for (j = 0; j < g4; ++j) {
                    /* three roundings, as the cpu provider's passes: products, + X W, + Wb + Rb */
                    const float xw = x_ok ? (float)xa[j] * sc.xs[j] : NAN;
                    const float with_x = gb[j] + xw;
                    gb[j] = wb ? with_x + (wb[j] + wb[g4 + j]) : with_x;
                }
                ep_lstm_cell(gb, sc.c + bi * n, hb, n, pd, act, al, be, clip, input_forget);
                if (y) {
                    memcpy((float *)y->data + ep_rnn_y_at(&g, t, d, bi), hb, (size_t)n * sizeof(float));
                }
            }
        }
        ep_rnn_store_state(y_h, seq_lens, &g, d, sc.h);
        ep_rnn_store_state(y_c, seq_lens, &g, d, sc.c);
    }
    return EP_OK;
}
