/* ep_rnn.c: recurrent activations, sequence lengths and layouts (see ep_rnn.h). */
#include <math.h>
#include <string.h>

#include "ep_exp.h"
#include "ep_rnn.h"
#include "ep_sgemm.h"
#include "ep_tanh.h"

float ep_rnn_activation(int64_t kind, float alpha, float beta, float v)
{
    float t;
    switch (kind) {
    case EP_ACT_SIGMOID:
        return 0.5f * tanhf(0.5f * v) + 0.5f;
    case EP_ACT_TANH:
        return tanhf(v);
    case EP_ACT_RELU:
        return v < 0.0f ? 0.0f : v;
    case EP_ACT_AFFINE:
        return alpha * v + beta;
    case EP_ACT_LEAKYRELU:
        return v < 0.0f ? alpha * v : v;
    case EP_ACT_THRESHOLDEDRELU:
        return v > alpha ? v : 0.0f;
    case EP_ACT_SCALEDTANH:
        return alpha * tanhf(beta * v);
    case EP_ACT_HARDSIGMOID:
        t = alpha * v + beta;
        return t < 0.0f ? 0.0f : (t > 1.0f ? 1.0f : t);
    case EP_ACT_ELU:
        return v < 0.0f ? alpha * expm1f(v) : v;
    case EP_ACT_SOFTSIGN:
        return v / (1.0f + fabsf(v));
    default: /* EP_ACT_SOFTPLUS */
        return (v > 0.0f ? v : 0.0f) + log1pf(expf(-fabsf(v)));
    }
}

int ep_rnn_kinds_ok(const int64_t *kinds, int64_t n)
{
    int64_t k;
    for (k = 0; kinds != NULL && k < n; ++k) {
        if (kinds[k] < EP_ACT_SIGMOID || kinds[k] > EP_ACT_SOFTPLUS) {
            return 0;
        }
    }
    return 1;
}

int ep_rnn_check_lens(const ep_tensor *lens, int64_t batch, int64_t seq)
{
    int64_t b;
    int rc;
    if (lens == NULL) {
        return EP_OK;
    }
    rc = ep_check_dtype(lens, EP_INT32);
    if (rc != EP_OK) {
        return rc;
    }
    if (ep_numel(lens) != batch) {
        return EP_ERR_SHAPE;
    }
    for (b = 0; b < batch; ++b) {
        int32_t v = ((const int32_t *)lens->data)[b];
        if (v < 0 || v > seq) {
            return EP_ERR_ARG;
        }
    }
    return EP_OK;
}

int64_t ep_rnn_time(const ep_tensor *lens, const ep_rnn_geometry *g, int64_t s, int64_t b, int reverse)
{
    int64_t len = lens ? ((const int32_t *)lens->data)[b] : g->seq;
    if (s >= len) {
        return -1;
    }
    return reverse ? len - 1 - s : s;
}

int64_t ep_rnn_x_at(const ep_rnn_geometry *g, int64_t t, int64_t b)
{
    return (g->layout ? b * g->seq + t : t * g->batch + b) * g->input;
}

int64_t ep_rnn_y_at(const ep_rnn_geometry *g, int64_t t, int64_t d, int64_t b)
{
    return (g->layout ? (b * g->seq + t) * g->dirs + d : (t * g->dirs + d) * g->batch + b) * g->hidden;
}

int64_t ep_rnn_state_at(const ep_rnn_geometry *g, int64_t d, int64_t b)
{
    return (g->layout ? b * g->dirs + d : d * g->batch + b) * g->hidden;
}

int ep_check_optional(const ep_tensor *t)
{
    return t == NULL ? EP_OK : ep_check(t);
}

int ep_rnn_setup(const ep_tensor *x, const ep_tensor *w, const ep_tensor *r, int transposed,
                 const ep_tensor *const *ts, int n, int32_t direction, int32_t layout, float clip, int64_t gates,
                 ep_rnn_geometry *g)
{
    int64_t gh;
    int k, rc;
    if (x == NULL || w == NULL || r == NULL) {
        return EP_ERR_ARG;
    }
    for (k = 0; k < n; ++k) {
        rc = ep_check_optional(ts[k]);
        if (rc != EP_OK) {
            return rc;
        }
    }
    if (direction < EP_RNN_FORWARD || direction > EP_RNN_BIDIRECTIONAL || (layout != 0 && layout != 1) ||
        !(clip >= 0.0f)) {
        return EP_ERR_ARG;
    }
    if (x->rank != 3 || w->rank != 3 || r->rank != 3) {
        return EP_ERR_SHAPE;
    }
    g->layout = layout;
    g->seq = x->dims[layout ? 1 : 0];
    g->batch = x->dims[layout ? 0 : 1];
    g->input = x->dims[2];
    g->dirs = direction == EP_RNN_BIDIRECTIONAL ? 2 : 1;
    gh = w->dims[transposed ? 2 : 1];
    g->hidden = gh / gates;
    if (w->dims[0] != g->dirs || w->dims[transposed ? 1 : 2] != g->input || gh != gates * g->hidden ||
        r->dims[0] != g->dirs || r->dims[transposed ? 2 : 1] != gh || r->dims[transposed ? 1 : 2] != g->hidden) {
        return EP_ERR_SHAPE;
    }
    return EP_OK;
}

void ep_rnn_load_state(const ep_tensor *init, const ep_rnn_geometry *g, int64_t d, float *state)
{
    int64_t b, j;
    for (b = 0; b < g->batch; ++b) {
        int64_t at = ep_rnn_state_at(g, d, b);
        for (j = 0; j < g->hidden; ++j) {
            state[b * g->hidden + j] = init ? ((const float *)init->data)[at + j] : 0.0f;
        }
    }
}

void ep_rnn_step_inputs(const ep_tensor *x, const ep_tensor *lens, const ep_rnn_geometry *g, int64_t s,
                        int reverse, float *xg)
{
    int64_t b;
    for (b = 0; b < g->batch; ++b) {
        int64_t t = ep_rnn_time(lens, g, s, b, reverse);
        if (t < 0) {
            memset(xg + b * g->input, 0, (size_t)g->input * sizeof(float));
        } else {
            memcpy(xg + b * g->input, (const float *)x->data + ep_rnn_x_at(g, t, b), (size_t)g->input * sizeof(float));
        }
    }
}

void ep_rnn_store_state(ep_tensor *out, const ep_tensor *lens, const ep_rnn_geometry *g, int64_t d,
                        const float *state)
{
    int64_t b, j;
    for (b = 0; out != NULL && b < g->batch; ++b) {
        int64_t at = ep_rnn_state_at(g, d, b);
        int empty = lens != NULL && ((const int32_t *)lens->data)[b] == 0;
        for (j = 0; j < g->hidden; ++j) {
            ((float *)out->data)[at + j] = empty ? 0.0f : state[b * g->hidden + j];
        }
    }
}

int64_t ep_rnn_scratch_layout(const ep_rnn_geometry *g, int64_t gates, float *base, ep_rnn_scratch *sc)
{
    int64_t gh = gates * g->hidden, per = g->batch * (g->input + 2 * gh), rows;
    int64_t sizes[6], k, total = 0;
    float **parts[6];
    sc->block = per > 0 ? EP_RNN_BLOCK_FLOATS / per : g->seq;
    if (sc->block < 1) {
        sc->block = 1;
    }
    if (sc->block > g->seq) {
        sc->block = g->seq;
    }
    rows = sc->block * g->batch;
    sc->w_transposed = 0;
    sc->few_rows = rows <= gh;
    sc->ldp = sc->few_rows ? rows : gh;
    sizes[0] = rows * g->input;
    sizes[1] = rows * gh;
    sizes[2] = ep_rnn_transposes(g->batch) ? gh * g->hidden : 0;
    sizes[3] = g->batch * gh;
    sizes[4] = sizes[5] = g->batch * g->hidden;
    parts[0] = &sc->xbuf;
    parts[1] = &sc->proj;
    parts[2] = &sc->rt;
    parts[3] = &sc->rec;
    parts[4] = &sc->h;
    parts[5] = &sc->c;
    for (k = 0; k < 6; ++k) {
        *parts[k] = base ? base + total : NULL;
        total += sizes[k];
    }
    return total;
}

int64_t ep_rnn_scratch_size(int64_t seq, int64_t batch, int64_t input, int64_t hidden, int64_t gates)
{
    ep_rnn_geometry g;
    ep_rnn_scratch sc;
    g.seq = seq;
    g.batch = batch;
    g.input = input;
    g.hidden = hidden;
    g.dirs = 1;
    g.layout = 0;
    return ep_rnn_scratch_layout(&g, gates, NULL, &sc);
}

void ep_rnn_add_projection(const ep_rnn_scratch *sc, int64_t row, int64_t from, int64_t n, float *dst)
{
    int64_t j;
    if (sc->few_rows) {
        const float *p = sc->proj + from * sc->ldp + row;
        for (j = 0; j < n; ++j) {
            dst[j] += p[j * sc->ldp];
        }
    } else {
        const float *p = sc->proj + row * sc->ldp + from;
        for (j = 0; j < n; ++j) {
            dst[j] += p[j];
        }
    }
}

void ep_rnn_transpose(int64_t rows, int64_t cols, const float *src, float *dst)
{
    int64_t i0, j0, i, j;
    for (i0 = 0; i0 < rows; i0 += 16) {
        int64_t i1 = rows - i0 < 16 ? rows : i0 + 16;
        for (j0 = 0; j0 < cols; j0 += 16) {
            int64_t j1 = cols - j0 < 16 ? cols : j0 + 16;
            for (j = j0; j < j1; ++j) {
                for (i = i0; i < i1; ++i) {
                    dst[j * rows + i] = src[i * cols + j];
                }
            }
        }
    }
}

int ep_rnn_transposes(int64_t batch)
{
    return batch >= 3;
}

void ep_rnn_recur(int64_t m, int64_t n, int64_t k, const float *a, const float *r, const float *rt, int64_t ldt,
                  float *c, int64_t ldc)
{
    if (ep_rnn_transposes(m)) { /* the blocked product's register tiles over rows of R^T */
        ep_sgemm_nn(m, n, k, a, k, 1, rt, ldt, c, ldc);
    } else { /* a GEMV or two: dot products over R's rows, as fast, and R needs no transpose */
        ep_sgemm_nt(m, n, k, a, k, r, k, c, ldc);
    }
}

/* c[0..n) = a (k floats) * rt (k x n, row stride ldt): eight rows of rt at a time streamed into c. */
static void rnn_gemv_t(int64_t n, int64_t k, const float *restrict a, const float *restrict rt, int64_t ldt,
                       float *restrict c)
{
    int64_t j, q = 0;
    memset(c, 0, (size_t)n * sizeof(float));
    for (; q + 8 <= k; q += 8) {
        const float *r0 = rt + q * ldt, *r1 = r0 + ldt, *r2 = r1 + ldt, *r3 = r2 + ldt;
        const float *r4 = r3 + ldt, *r5 = r4 + ldt, *r6 = r5 + ldt, *r7 = r6 + ldt;
        float a0 = a[q], a1 = a[q + 1], a2 = a[q + 2], a3 = a[q + 3];
        float a4 = a[q + 4], a5 = a[q + 5], a6 = a[q + 6], a7 = a[q + 7];
        for (j = 0; j < n; ++j) {
            c[j] += (a0 * r0[j] + a1 * r1[j] + a2 * r2[j] + a3 * r3[j]) +
                    (a4 * r4[j] + a5 * r5[j] + a6 * r6[j] + a7 * r7[j]);
        }
    }
    for (; q < k; ++q) {
        const float *r0 = rt + q * ldt;
        float a0 = a[q];
        for (j = 0; j < n; ++j) {
            c[j] += a0 * r0[j];
        }
    }
}

void ep_rnn_recur_t(int64_t m, int64_t n, int64_t k, const float *a, const float *rt, int64_t ldt, float *c,
                    int64_t ldc)
{
    int64_t i;
    if (ep_rnn_transposes(m)) {
        ep_sgemm_nn(m, n, k, a, k, 1, rt, ldt, c, ldc);
        return;
    }
    for (i = 0; i < m; ++i) { /* one or two rows: a pass over R^T's rows each, contiguous and vectorized */
        rnn_gemv_t(n, k, a + i * k, rt, ldt, c + i * ldc);
    }
}

/* b1[j] + b2[j] (either NULL: none; b2 only below n2) */
static float rnn_bias(const float *b1, const float *b2, int64_t n2, int64_t j)
{
    return (b1 ? b1[j] : 0.0f) + (b2 && j < n2 ? b2[j] : 0.0f);
}

void ep_rnn_project(const ep_tensor *x, const ep_tensor *lens, const ep_rnn_geometry *g, int64_t s0, int64_t steps,
                    int reverse, const float *wd, int64_t gh, const float *b1, const float *b2, int64_t n2,
                    const ep_rnn_scratch *sc)
{
    int64_t rows = steps * g->batch, s, bi, j, q;
    float *xbuf = sc->xbuf, *proj = sc->proj;
    const float *a = xbuf;
    if (sc->few_rows) {
        /* proj^T = W X^T, W read in place as the left operand (X W^T would pack all of W^T for a
         * handful of rows), X^T gathered into xbuf */
        for (s = 0; s < steps; ++s) {
            for (bi = 0; bi < g->batch; ++bi) {
                int64_t t = ep_rnn_time(lens, g, s0 + s, bi, reverse), r = s * g->batch + bi;
                const float *xr = (const float *)x->data + (t < 0 ? 0 : ep_rnn_x_at(g, t, bi));
                for (q = 0; q < g->input; ++q) {
                    xbuf[q * rows + r] = t < 0 ? 0.0f : xr[q];
                }
            }
        }
        ep_sgemm_nn(gh, rows, g->input, wd, g->input, 1, xbuf, rows, proj, sc->ldp);
        for (j = 0; j < gh; ++j) {
            float bias = rnn_bias(b1, b2, n2, j);
            for (s = 0; s < rows; ++s) {
                proj[j * sc->ldp + s] += bias;
            }
        }
        return;
    }
    if (lens == NULL && g->layout == 0 && !reverse) { /* the steps' rows already lie in order in X */
        a = (const float *)x->data + s0 * g->batch * g->input;
    } else {
        for (s = 0; s < steps; ++s) {
            ep_rnn_step_inputs(x, lens, g, s0 + s, reverse, xbuf + s * g->batch * g->input);
        }
    }
    if (sc->w_transposed) { /* wd is W^T (input x gh): its rows streamed as they lie */
        ep_sgemm_nn(rows, gh, g->input, a, g->input, 1, wd, gh, proj, gh);
    } else {
        ep_sgemm_nt(rows, gh, g->input, a, g->input, wd, g->input, proj, gh);
    }
    for (s = 0; s < rows; ++s) {
        for (j = 0; j < gh; ++j) {
            proj[s * gh + j] += rnn_bias(b1, b2, n2, j);
        }
    }
}

void ep_rnn_apply(int64_t kind, float alpha, float beta, float clip, float *v, int64_t n)
{
    int64_t i;
    if (clip > 0.0f) {
        for (i = 0; i < n; ++i) {
            v[i] = v[i] > clip ? clip : (v[i] < -clip ? -clip : v[i]);
        }
    }
    switch (kind) {
    case EP_ACT_SIGMOID:
        for (i = 0; i < n; ++i) {
            v[i] = 1.0f / (1.0f + ep_expf(-v[i]));
        }
        break;
    case EP_ACT_TANH:
    case EP_ACT_SCALEDTANH: /* one inlined ep_tanhf per function: GCC 12 vectorizes no loop of two */
        for (i = 0; kind == EP_ACT_SCALEDTANH && i < n; ++i) {
            v[i] *= beta;
        }
        for (i = 0; i < n; ++i) {
            v[i] = ep_tanhf(v[i]);
        }
        for (i = 0; kind == EP_ACT_SCALEDTANH && i < n; ++i) {
            v[i] *= alpha;
        }
        break;
    default:
        for (i = 0; i < n; ++i) {
            v[i] = ep_rnn_activation(kind, alpha, beta, v[i]);
        }
        break;
    }
}

/* One entry's LSTM cell (see ep_rnn.h). */
void ep_lstm_cell(float *gb, float *cb, float *hb, int64_t hid, const float *pd, const int64_t *act, const float *al,
                  const float *be, float clip, int32_t input_forget)
{
    float *gi = gb, *go = gb + hid, *gf = gb + 2 * hid, *gc = gb + 3 * hid;
    int64_t j;
    if (pd) {
        for (j = 0; j < hid; ++j) {
            gi[j] += pd[j] * cb[j];
            gf[j] += pd[2 * hid + j] * cb[j];
        }
    }
    ep_rnn_apply(act[0], al[0], be[0], clip, gi, hid);
    if (input_forget) {
        for (j = 0; j < hid; ++j) {
            gf[j] = 1.0f - gi[j];
        }
    } else {
        ep_rnn_apply(act[0], al[0], be[0], clip, gf, hid);
    }
    ep_rnn_apply(act[1], al[1], be[1], clip, gc, hid);
    for (j = 0; j < hid; ++j) {
        cb[j] = gf[j] * cb[j] + gi[j] * gc[j];
    }
    if (pd) {
        for (j = 0; j < hid; ++j) {
            go[j] += pd[hid + j] * cb[j];
        }
    }
    ep_rnn_apply(act[0], al[0], be[0], clip, go, hid);
    memcpy(gc, cb, (size_t)hid * sizeof(float));
    ep_rnn_apply(act[2], al[2], be[2], 0.0f, gc, hid);
    for (j = 0; j < hid; ++j) {
        hb[j] = go[j] * gc[j];
    }
}
