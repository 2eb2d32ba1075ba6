/* gru.c: default ONNX GRU kernel, one direction at a time: the input projection of a block of steps
 * as one GEMM (biases folded in), then per step H R^T (ep_rnn_recur), and the gates in vectorized
 * passes over the hidden units. */
#include <string.h>

#include "gru.h"

int64_t ep_gru_scratch_size(int64_t seq, int64_t batch, int64_t hidden, int64_t input)
{
    return ep_rnn_scratch_size(seq, batch, input, hidden, 3);
}

static const int64_t default_acts[2] = {EP_ACT_SIGMOID, EP_ACT_TANH};
static const float no_params[2] = {0.0f, 0.0f};

/* c (batch x n, row stride 3H) = a (batch x H) times columns from .. from + n - 1 of R_d^T: rt_d (H x 3H) when
 * transposed, else R_d's rows from .. from + n - 1 (rd) and, from batch 3, sc->rt (R_d^T made this run). */
static void gru_recur(const ep_rnn_geometry *g, const ep_rnn_scratch *sc, int transposed, const float *rd,
                      int64_t from, int64_t n, const float *a, float *c)
{
    int64_t hid = g->hidden, g3 = 3 * hid;
    if (transposed) {
        ep_rnn_recur_t(g->batch, n, hid, a, rd + from, g3, c, g3);
    } else {
        ep_rnn_recur(g->batch, n, hid, a, rd + from * hid, sc->rt + from, g3, c, g3);
    }
}

/* ep_gru, or ep_gru_rt when transposed (w then dirs x input x 3H, r dirs x H x 3H). */
static int gru_run(const ep_tensor *x, const ep_tensor *w, const ep_tensor *r, int transposed, const ep_tensor *b,
                   const ep_tensor *seq_lens, const ep_tensor *initial_h, ep_tensor *y, ep_tensor *y_h,
                   int32_t direction, int32_t layout, const int64_t *acts, const float *alpha, const float *beta,
                   float clip, int32_t linear_before_reset, float *scratch)
{
    ep_rnn_geometry g;
    ep_rnn_scratch sc;
    int64_t g3, hid, d, s, s0, steps, bi, j, state;
    float *rec, *hs, *rh;
    const ep_tensor *all[] = {b, initial_h, y, y_h, x, w, r};
    int rc = ep_rnn_setup(x, w, r, transposed, all, 7, direction, layout, clip, 3, &g);
    if (rc == EP_OK && linear_before_reset != 0 && linear_before_reset != 1) {
        rc = EP_ERR_ARG;
    }
    if (rc != EP_OK) {
        return rc;
    }
    hid = g.hidden;
    g3 = 3 * hid;
    state = g.dirs * g.batch * hid;
    if ((b && ep_numel(b) != g.dirs * 6 * hid) ||
        (initial_h && ep_numel(initial_h) != state) || (y && ep_numel(y) != g.seq * state) ||
        (y_h && ep_numel(y_h) != state)) {
        return EP_ERR_SHAPE;
    }
    rc = ep_rnn_check_lens(seq_lens, g.batch, g.seq);
    if (rc != EP_OK) {
        return rc;
    }
    if ((acts != NULL && (alpha == NULL || beta == NULL || !ep_rnn_kinds_ok(acts, 2 * g.dirs))) ||
        (scratch == NULL && ep_rnn_scratch_layout(&g, 3, NULL, &sc) > 0)) {
        return EP_ERR_ARG;
    }
    ep_rnn_scratch_layout(&g, 3, scratch, &sc);
    if (transposed) { /* W^T too: the projection X W^T streams its rows */
        sc.w_transposed = 1;
        sc.few_rows = 0;
        sc.ldp = 3 * g.hidden;
    }
    rec = sc.rec;
    hs = sc.h;
    rh = sc.c; /* r * H when not linear_before_reset */
    if (y && seq_lens) { /* steps past an entry's length stay zero */
        memset(y->data, 0, (size_t)(g.seq * state) * sizeof(float));
    }

    for (d = 0; d < g.dirs; ++d) {
        const float *wd = (const float *)w->data + d * g3 * g.input;
        const float *wb = b ? (const float *)b->data + d * 6 * hid : NULL;
        const float *rb = b ? wb + g3 : NULL;
        const int64_t *act = acts ? acts + 2 * d : default_acts;
        const float *al = acts ? alpha + 2 * d : no_params;
        const float *be = acts ? beta + 2 * d : no_params;
        int reverse = direction == EP_RNN_REVERSE || d == 1;
        const float *rd = (const float *)r->data + d * g3 * hid;
        if (!transposed && ep_rnn_transposes(g.batch)) {
            ep_rnn_transpose(g3, hid, rd, sc.rt);
        }
        ep_rnn_load_state(initial_h, &g, d, hs);
        for (s0 = 0; s0 < g.seq; s0 += sc.block) {
            steps = g.seq - s0 < sc.block ? g.seq - s0 : sc.block;
            /* proj (steps * batch x 3H) = X W^T + Wb, + Rb for z and r (and for h unless linear_before_reset) */
            ep_rnn_project(x, seq_lens, &g, s0, steps, reverse, wd, g3, wb, rb, linear_before_reset ? 2 * hid : g3,
                           &sc);
            for (s = s0; s < s0 + steps; ++s) {
                /* rec = H R^T: z and r, and h's with linear_before_reset */
                gru_recur(&g, &sc, transposed, rd, 0, linear_before_reset ? g3 : 2 * hid, hs, rec);
                for (bi = 0; bi < g.batch; ++bi) {
                    float *gb = rec + bi * g3;
                    ep_rnn_add_projection(&sc, (s - s0) * g.batch + bi, 0, 2 * hid, gb);
                    ep_rnn_apply(act[0], al[0], be[0], clip, gb, 2 * hid);
                    if (!linear_before_reset) {
                        const float *hb = hs + bi * hid;
                        float *rhb = rh + bi * hid;
                        for (j = 0; j < hid; ++j) {
                            rhb[j] = gb[hid + j] * hb[j];
                        }
                    }
                }
                if (!linear_before_reset) { /* (r * H) R_h^T into h's slot of rec */
                    gru_recur(&g, &sc, transposed, rd, 2 * hid, hid, rh, rec + 2 * hid);
                }
                for (bi = 0; bi < g.batch; ++bi) {
                    float *gb = rec + bi * g3;
                    float *hh = gb + 2 * hid;
                    float *hb = hs + bi * hid;
                    int64_t t = ep_rnn_time(seq_lens, &g, s, bi, reverse);
                    if (t < 0) {
                        continue;
                    }
                    if (linear_before_reset) { /* r * (H R_h^T + Rb_h) */
                        for (j = 0; j < hid; ++j) {
                            hh[j] = gb[hid + j] * (hh[j] + (rb ? rb[2 * hid + j] : 0.0f));
                        }
                    }
                    ep_rnn_add_projection(&sc, (s - s0) * g.batch + bi, 2 * hid, hid, hh);
                    ep_rnn_apply(act[1], al[1], be[1], clip, hh, hid);
                    for (j = 0; j < hid; ++j) {
                        hb[j] = hh[j] + gb[j] * (hb[j] - hh[j]);
                    }
                    if (y) {
                        memcpy((float *)y->data + ep_rnn_y_at(&g, t, d, bi), hb, (size_t)hid * sizeof(float));
                    }
                }
            }
        }
        ep_rnn_store_state(y_h, seq_lens, &g, d, hs);
    }
    return EP_OK;
}

int ep_gru(const ep_tensor *x, const ep_tensor *w, const ep_tensor *r, const ep_tensor *b, const ep_tensor *seq_lens,
           const ep_tensor *initial_h, ep_tensor *y, ep_tensor *y_h, int32_t direction, int32_t layout,
           const int64_t *acts, const float *alpha, const float *beta, float clip, int32_t linear_before_reset,
           float *scratch)
{
    return gru_run(x, w, r, 0, b, seq_lens, initial_h, y, y_h, direction, layout, acts, alpha, beta, clip,
                   linear_before_reset, scratch);
}

int ep_gru_rt(const ep_tensor *x, const ep_tensor *wt, const ep_tensor *rt, const ep_tensor *b,
              const ep_tensor *seq_lens, const ep_tensor *initial_h, ep_tensor *y, ep_tensor *y_h, int32_t direction,
              int32_t layout, const int64_t *acts, const float *alpha, const float *beta, float clip,
              int32_t linear_before_reset, float *scratch)
{
    return gru_run(x, wt, rt, 1, b, seq_lens, initial_h, y, y_h, direction, layout, acts, alpha, beta, clip,
                   linear_before_reset, scratch);
}
