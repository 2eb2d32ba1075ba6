/* lstm.c: default ONNX LSTM kernel, one direction at a time: the input projection of a block of steps
 * as one GEMM (biases folded in), then per step H R^T (ep_rnn_recur), and the gates in vectorized
 * passes over the hidden units. */
#include <string.h>

#include "lstm.h"

int64_t ep_lstm_scratch_size(int64_t seq, int64_t batch, int64_t hidden, int64_t input)
{
    return ep_rnn_scratch_size(seq, batch, input, hidden, 4);
}

static const int64_t default_acts[3] = {EP_ACT_SIGMOID, EP_ACT_TANH, EP_ACT_TANH};
static const float no_params[3] = {0.0f, 0.0f, 0.0f};

/* ep_lstm, or ep_lstm_rt when transposed (w then dirs x input x 4H, r dirs x H x 4H). */
static int lstm_run(const ep_tensor *x, const ep_tensor *w, const ep_tensor *r, int transposed, const ep_tensor *b,
                    const ep_tensor *seq_lens, const ep_tensor *initial_h, const ep_tensor *initial_c,
                    const ep_tensor *p, ep_tensor *y, ep_tensor *y_h, ep_tensor *y_c, int32_t direction,
                    int32_t layout, const int64_t *acts, const float *alpha, const float *beta, float clip,
                    int32_t input_forget, float *scratch)
{
    ep_rnn_geometry g;
    ep_rnn_scratch sc;
    int64_t g4, d, s, s0, steps, bi, state;
    float *rec, *hs, *cs;
    const ep_tensor *all[] = {b, initial_h, initial_c, p, y, y_h, y_c, x, w, r};
    int rc = ep_rnn_setup(x, w, r, transposed, all, 10, direction, layout, clip, 4, &g);
    if (rc == EP_OK && input_forget != 0 && input_forget != 1) {
        rc = EP_ERR_ARG;
    }
    if (rc != EP_OK) {
        return rc;
    }
    g4 = 4 * g.hidden;
    state = g.dirs * g.batch * g.hidden;
    if ((b && ep_numel(b) != g.dirs * 8 * g.hidden) ||
        (p && ep_numel(p) != g.dirs * 3 * g.hidden) || (initial_h && ep_numel(initial_h) != state) ||
        (initial_c && ep_numel(initial_c) != state) || (y && ep_numel(y) != g.seq * state) ||
        (y_h && ep_numel(y_h) != state) || (y_c && ep_numel(y_c) != state)) {
        return EP_ERR_SHAPE;
    }
    rc = ep_rnn_check_lens(seq_lens, g.batch, g.seq);
    if (rc != EP_OK) {
        return rc;
    }
    if ((acts != NULL && (alpha == NULL || beta == NULL || !ep_rnn_kinds_ok(acts, 3 * g.dirs))) ||
        (scratch == NULL && ep_rnn_scratch_layout(&g, 4, NULL, &sc) > 0)) {
        return EP_ERR_ARG;
    }
    ep_rnn_scratch_layout(&g, 4, scratch, &sc);
    if (transposed) { /* W^T too: the projection X W^T streams its rows */
        sc.w_transposed = 1;
        sc.few_rows = 0;
        sc.ldp = 4 * g.hidden;
    }
    rec = sc.rec;
    hs = sc.h;
    cs = sc.c;
    if (y && seq_lens) { /* steps past an entry's length stay zero */
        memset(y->data, 0, (size_t)(g.seq * state) * sizeof(float));
    }

    for (d = 0; d < g.dirs; ++d) {
        const float *wd = (const float *)w->data + d * g4 * g.input;
        const float *wb = b ? (const float *)b->data + d * 8 * g.hidden : NULL;
        const float *pd = p ? (const float *)p->data + d * 3 * g.hidden : NULL;
        const int64_t *act = acts ? acts + 3 * d : default_acts;
        const float *al = acts ? alpha + 3 * d : no_params;
        const float *be = acts ? beta + 3 * d : no_params;
        int reverse = direction == EP_LSTM_REVERSE || d == 1;
        const float *rd = (const float *)r->data + d * g4 * g.hidden;
        if (!transposed && ep_rnn_transposes(g.batch)) {
            ep_rnn_transpose(g4, g.hidden, rd, sc.rt);
        }
        ep_rnn_load_state(initial_h, &g, d, hs);
        ep_rnn_load_state(initial_c, &g, d, cs);
        for (s0 = 0; s0 < g.seq; s0 += sc.block) {
            steps = g.seq - s0 < sc.block ? g.seq - s0 : sc.block;
            /* proj (steps * batch x 4H) = X W^T + Wb + Rb */
            ep_rnn_project(x, seq_lens, &g, s0, steps, reverse, wd, g4, wb, wb ? wb + g4 : NULL, g4, &sc);
            for (s = s0; s < s0 + steps; ++s) {
                if (transposed) {
                    ep_rnn_recur_t(g.batch, g4, g.hidden, hs, rd, g4, rec, g4);
                } else {
                    ep_rnn_recur(g.batch, g4, g.hidden, hs, rd, sc.rt, g4, rec, g4);
                }
                for (bi = 0; bi < g.batch; ++bi) {
                    float *gb = rec + bi * g4;
                    float *hb = hs + bi * g.hidden;
                    int64_t t = ep_rnn_time(seq_lens, &g, s, bi, reverse);
                    if (t < 0) {
                        continue;
                    }
                    ep_rnn_add_projection(&sc, (s - s0) * g.batch + bi, 0, g4, gb);
                    ep_lstm_cell(gb, cs + bi * g.hidden, hb, g.hidden, pd, act, al, be, clip, input_forget);
                    if (y) {
                        memcpy((float *)y->data + ep_rnn_y_at(&g, t, d, bi), hb, (size_t)g.hidden * sizeof(float));
                    }
                }
            }
        }
        ep_rnn_store_state(y_h, seq_lens, &g, d, hs);
        ep_rnn_store_state(y_c, seq_lens, &g, d, cs);
    }
    return EP_OK;
}

int ep_lstm(const ep_tensor *x, const ep_tensor *w, const ep_tensor *r, const ep_tensor *b, const ep_tensor *seq_lens,
            const ep_tensor *initial_h, const ep_tensor *initial_c, const ep_tensor *p,
            ep_tensor *y, ep_tensor *y_h, ep_tensor *y_c, int32_t direction, int32_t layout,
            const int64_t *acts, const float *alpha, const float *beta, float clip, int32_t input_forget,
            float *scratch)
{
    return lstm_run(x, w, r, 0, b, seq_lens, initial_h, initial_c, p, y, y_h, y_c, direction, layout, acts, alpha,
                    beta, clip, input_forget, scratch);
}

int ep_lstm_rt(const ep_tensor *x, const ep_tensor *wt, const ep_tensor *rt, const ep_tensor *b,
               const ep_tensor *seq_lens, const ep_tensor *initial_h, const ep_tensor *initial_c, const ep_tensor *p,
               ep_tensor *y, ep_tensor *y_h, ep_tensor *y_c, int32_t direction, int32_t layout,
               const int64_t *acts, const float *alpha, const float *beta, float clip, int32_t input_forget,
               float *scratch)
{
    return lstm_run(x, wt, rt, 1, b, seq_lens, initial_h, initial_c, p, y, y_h, y_c, direction, layout, acts, alpha,
                    beta, clip, input_forget, scratch);
}
