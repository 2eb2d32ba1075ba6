/* lstm.c: default ONNX LSTM kernel: one direction at a time, gates for the whole batch per step. */
#include <math.h>
#include <string.h>

#include "ep_sgemm.h"
#include "lstm.h"

static float clipped(float v, float clip)
{
    if (clip > 0.0f) {
        if (v > clip) {
            return clip;
        }
        if (v < -clip) {
            return -clip;
        }
    }
    return v;
}

int64_t ep_lstm_scratch_size(int64_t batch, int64_t hidden, int64_t input)
{
    return 10 * batch * hidden + batch * input;
}

static const int64_t default_acts[3] = {EP_ACT_SIGMOID, EP_ACT_TANH, EP_ACT_TANH};
static const float no_params[3] = {0.0f, 0.0f, 0.0f};

int ep_lstm(const ep_tensor *x, const ep_tensor *w, const ep_tensor *r, const ep_tensor *b, const ep_tensor *seq_lens,
            const ep_tensor *initial_h, const ep_tensor *initial_c, const ep_tensor *p,
            ep_tensor *y, ep_tensor *y_h, ep_tensor *y_c, int32_t direction, int32_t layout,
            const int64_t *acts, const float *alpha, const float *beta, float clip, int32_t input_forget,
            float *scratch)
{
    ep_rnn_geometry g;
    int64_t g4, d, s, bi, j, state;
    float *gates;
    float *rec;
    float *hs;
    float *cs;
    float *xg;
    const ep_tensor *all[9];
    int k, rc;
    all[0] = x;
    all[1] = w;
    all[2] = r;
    all[3] = b;
    all[4] = initial_h;
    all[5] = initial_c;
    all[6] = p;
    all[7] = y;
    all[8] = y_h;
    if (x == NULL || w == NULL || r == NULL) {
        return EP_ERR_ARG;
    }
    for (k = 0; k < 9; ++k) {
        rc = ep_check_optional(all[k]);
        if (rc != EP_OK) {
            return rc;
        }
    }
    rc = ep_check_optional(y_c);
    if (rc != EP_OK) {
        return rc;
    }
    if (direction < 0 || direction > 2 || (layout != 0 && layout != 1) || !(clip >= 0.0f) ||
        (input_forget != 0 && input_forget != 1)) {
        return EP_ERR_ARG;
    }
    if (x->rank != 3 || w->rank != 3 || r->rank != 3) {
        return EP_ERR_SHAPE;
    }
    g.layout = layout;
    g.seq = x->dims[layout ? 1 : 0];
    g.batch = x->dims[layout ? 0 : 1];
    g.input = x->dims[2];
    g.dirs = direction == EP_LSTM_BIDIRECTIONAL ? 2 : 1;
    g4 = w->dims[1];
    g.hidden = g4 / 4;
    state = g.dirs * g.batch * g.hidden;
    if (w->dims[0] != g.dirs || w->dims[2] != g.input || g4 != 4 * g.hidden || r->dims[0] != g.dirs ||
        r->dims[1] != g4 || r->dims[2] != g.hidden || (b && ep_numel(b) != g.dirs * 8 * g.hidden) ||
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
        (scratch == NULL && ep_lstm_scratch_size(g.batch, g.hidden, g.input) > 0)) {
        return EP_ERR_ARG;
    }
    gates = scratch;
    rec = scratch + 4 * g.batch * g.hidden;
    hs = rec + 4 * g.batch * g.hidden;
    cs = hs + g.batch * g.hidden;
    xg = cs + g.batch * g.hidden;
    if (y) {
        memset(y->data, 0, (size_t)(g.seq * state) * sizeof(float));
    }

    for (d = 0; d < g.dirs; ++d) {
        const float *wd = (const float *)w->data + d * g4 * g.input;
        const float *rd = (const float *)r->data + d * g4 * g.hidden;
        const float *wb = b ? (const float *)b->data + d * 8 * g.hidden : NULL;
        const float *pd = p ? (const float *)p->data + d * 3 * g.hidden : NULL;
        const int64_t *act = acts ? acts + 3 * d : default_acts;
        const float *al = acts ? alpha + 3 * d : no_params;
        const float *be = acts ? beta + 3 * d : no_params;
        int reverse = direction == EP_LSTM_REVERSE || d == 1;
        for (bi = 0; bi < g.batch; ++bi) {
            int64_t at = ep_rnn_state_at(&g, d, bi);
            for (j = 0; j < g.hidden; ++j) {
                hs[bi * g.hidden + j] = initial_h ? ((const float *)initial_h->data)[at + j] : 0.0f;
                cs[bi * g.hidden + j] = initial_c ? ((const float *)initial_c->data)[at + j] : 0.0f;
            }
        }
        for (s = 0; s < g.seq; ++s) {
            /* the step's input rows: each entry's own time index (reverse runs within its length) */
            for (bi = 0; bi < g.batch; ++bi) {
                int64_t t = ep_rnn_time(seq_lens, &g, s, bi, reverse);
                if (t < 0) {
                    memset(xg + bi * g.input, 0, (size_t)g.input * sizeof(float));
                } else {
                    memcpy(xg + bi * g.input, (const float *)x->data + ep_rnn_x_at(&g, t, bi),
                           (size_t)g.input * sizeof(float));
                }
            }
            /* gates (batch x 4H) = x_t W^T + h R^T + Wb + Rb */
            ep_sgemm_nt(g.batch, g4, g.input, xg, g.input, wd, g.input, gates, g4);
            ep_sgemm_nt(g.batch, g4, g.hidden, hs, g.hidden, rd, g.hidden, rec, g4);
            for (bi = 0; bi < g.batch; ++bi) {
                float *gb = gates + bi * g4;
                const float *rb = rec + bi * g4;
                float *hb = hs + bi * g.hidden;
                float *cb = cs + bi * g.hidden;
                int64_t t = ep_rnn_time(seq_lens, &g, s, bi, reverse);
                if (t < 0) {
                    continue;
                }
                for (j = 0; j < g4; ++j) {
                    gb[j] += rb[j] + (wb ? wb[j] + wb[g4 + j] : 0.0f);
                }
                for (j = 0; j < g.hidden; ++j) {
                    float c_prev = cb[j];
                    float gi = gb[j];
                    float go = gb[g.hidden + j];
                    float gf = gb[2 * g.hidden + j];
                    float gc = gb[3 * g.hidden + j];
                    float it, ft, ot, cn;
                    if (pd) {
                        gi += pd[j] * c_prev;
                        gf += pd[2 * g.hidden + j] * c_prev;
                    }
                    it = ep_rnn_activation(act[0], al[0], be[0], clipped(gi, clip));
                    ft = input_forget ? 1.0f - it : ep_rnn_activation(act[0], al[0], be[0], clipped(gf, clip));
                    cn = ft * c_prev + it * ep_rnn_activation(act[1], al[1], be[1], clipped(gc, clip));
                    if (pd) {
                        go += pd[g.hidden + j] * cn;
                    }
                    ot = ep_rnn_activation(act[0], al[0], be[0], clipped(go, clip));
                    cb[j] = cn;
                    hb[j] = ot * ep_rnn_activation(act[2], al[2], be[2], cn);
                }
                if (y) {
                    memcpy((float *)y->data + ep_rnn_y_at(&g, t, d, bi), hb, (size_t)g.hidden * sizeof(float));
                }
            }
        }
        for (bi = 0; bi < g.batch; ++bi) {
            int64_t at = ep_rnn_state_at(&g, d, bi);
            int empty = seq_lens != NULL && ((const int32_t *)seq_lens->data)[bi] == 0;
            for (j = 0; j < g.hidden; ++j) {
                if (y_h) {
                    ((float *)y_h->data)[at + j] = empty ? 0.0f : hs[bi * g.hidden + j];
                }
                if (y_c) {
                    ((float *)y_c->data)[at + j] = empty ? 0.0f : cs[bi * g.hidden + j];
                }
            }
        }
    }
    return EP_OK;
}
