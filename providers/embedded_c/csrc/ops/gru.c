/* gru.c: default ONNX GRU kernel: one direction at a time, gates for the whole batch per step. */
#include <math.h>
#include <string.h>

#include "ep_sgemm.h"
#include "gru.h"

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

int64_t ep_gru_scratch_size(int64_t batch, int64_t hidden, int64_t input)
{
    return 9 * batch * hidden + batch * input;
}

static const int64_t default_acts[2] = {EP_ACT_SIGMOID, EP_ACT_TANH};
static const float no_params[2] = {0.0f, 0.0f};

int ep_gru(const ep_tensor *x, const ep_tensor *w, const ep_tensor *r, const ep_tensor *b, const ep_tensor *seq_lens,
           const ep_tensor *initial_h, ep_tensor *y, ep_tensor *y_h, int32_t direction, int32_t layout,
           const int64_t *acts, const float *alpha, const float *beta, float clip, int32_t linear_before_reset,
           float *scratch)
{
    ep_rnn_geometry g;
    int64_t g3, hid, d, s, bi, j, state;
    float *gates;
    float *rec;
    float *hs;
    float *rh;
    float *xg;
    const ep_tensor *all[7];
    int k, rc;
    all[0] = x;
    all[1] = w;
    all[2] = r;
    all[3] = b;
    all[4] = initial_h;
    all[5] = y;
    all[6] = y_h;
    if (x == NULL || w == NULL || r == NULL) {
        return EP_ERR_ARG;
    }
    for (k = 0; k < 7; ++k) {
        rc = ep_check_optional(all[k]);
        if (rc != EP_OK) {
            return rc;
        }
    }
    if (direction < 0 || direction > 2 || (layout != 0 && layout != 1) || !(clip >= 0.0f) ||
        (linear_before_reset != 0 && linear_before_reset != 1)) {
        return EP_ERR_ARG;
    }
    if (x->rank != 3 || w->rank != 3 || r->rank != 3) {
        return EP_ERR_SHAPE;
    }
    g.layout = layout;
    g.seq = x->dims[layout ? 1 : 0];
    g.batch = x->dims[layout ? 0 : 1];
    g.input = x->dims[2];
    g.dirs = direction == EP_RNN_BIDIRECTIONAL ? 2 : 1;
    g3 = w->dims[1];
    hid = g.hidden = g3 / 3;
    state = g.dirs * g.batch * hid;
    if (w->dims[0] != g.dirs || w->dims[2] != g.input || g3 != 3 * hid || r->dims[0] != g.dirs ||
        r->dims[1] != g3 || r->dims[2] != hid || (b && ep_numel(b) != g.dirs * 6 * hid) ||
        (initial_h && ep_numel(initial_h) != state) || (y && ep_numel(y) != g.seq * state) ||
        (y_h && ep_numel(y_h) != state)) {
        return EP_ERR_SHAPE;
    }
    rc = ep_rnn_check_lens(seq_lens, g.batch, g.seq);
    if (rc != EP_OK) {
        return rc;
    }
    if ((acts != NULL && (alpha == NULL || beta == NULL || !ep_rnn_kinds_ok(acts, 2 * g.dirs))) ||
        (scratch == NULL && ep_gru_scratch_size(g.batch, hid, g.input) > 0)) {
        return EP_ERR_ARG;
    }
    gates = scratch;
    rec = gates + 3 * g.batch * hid;
    hs = rec + 3 * g.batch * hid;
    rh = hs + g.batch * hid;
    xg = rh + 2 * g.batch * hid;
    if (y) {
        memset(y->data, 0, (size_t)(g.seq * state) * sizeof(float));
    }

    for (d = 0; d < g.dirs; ++d) {
        const float *wd = (const float *)w->data + d * g3 * g.input;
        const float *rd = (const float *)r->data + d * g3 * hid;
        const float *wb = b ? (const float *)b->data + d * 6 * hid : NULL;
        const float *rb = b ? wb + 3 * hid : NULL;
        const int64_t *act = acts ? acts + 2 * d : default_acts;
        const float *al = acts ? alpha + 2 * d : no_params;
        const float *be = acts ? beta + 2 * d : no_params;
        int reverse = direction == EP_RNN_REVERSE || d == 1;
        for (bi = 0; bi < g.batch; ++bi) {
            int64_t at = ep_rnn_state_at(&g, d, bi);
            for (j = 0; j < hid; ++j) {
                hs[bi * hid + j] = initial_h ? ((const float *)initial_h->data)[at + j] : 0.0f;
            }
        }
        for (s = 0; s < g.seq; ++s) {
            for (bi = 0; bi < g.batch; ++bi) {
                int64_t t = ep_rnn_time(seq_lens, &g, s, bi, reverse);
                if (t < 0) {
                    memset(xg + bi * g.input, 0, (size_t)g.input * sizeof(float));
                } else {
                    memcpy(xg + bi * g.input, (const float *)x->data + ep_rnn_x_at(&g, t, bi),
                           (size_t)g.input * sizeof(float));
                }
            }
            /* gates (batch x 3H) = x_t W^T; rec = H R^T (all three gates) */
            ep_sgemm_nt(g.batch, g3, g.input, xg, g.input, wd, g.input, gates, g3);
            ep_sgemm_nt(g.batch, g3, hid, hs, hid, rd, hid, rec, g3);
            for (bi = 0; bi < g.batch; ++bi) {
                float *gb = gates + bi * g3;
                const float *rcb = rec + bi * g3;
                const float *hb = hs + bi * hid;
                float *zb = rh + bi * hid; /* r * H, then reused for z */
                for (j = 0; j < 2 * hid; ++j) { /* z and r take both biases up front */
                    float v = gb[j] + rcb[j] + (wb ? wb[j] + rb[j] : 0.0f);
                    gb[j] = ep_rnn_activation(act[0], al[0], be[0], clipped(v, clip));
                }
                for (j = 0; j < hid; ++j) {
                    zb[j] = gb[hid + j] * hb[j];
                }
            }
            if (!linear_before_reset) {
                /* (r * H) R_h^T into the h gate's slot of rec */
                float *tmp = rh + g.batch * hid;
                ep_sgemm_nt(g.batch, hid, hid, rh, hid, rd + 2 * hid * hid, hid, tmp, hid);
                for (bi = 0; bi < g.batch; ++bi) {
                    memcpy(rec + bi * g3 + 2 * hid, tmp + bi * hid, (size_t)hid * sizeof(float));
                }
            }
            for (bi = 0; bi < g.batch; ++bi) {
                float *gb = gates + bi * g3;
                const float *rcb = rec + bi * g3;
                float *hb = hs + bi * hid;
                int64_t t = ep_rnn_time(seq_lens, &g, s, bi, reverse);
                if (t < 0) {
                    continue;
                }
                for (j = 0; j < hid; ++j) {
                    float rbh = rb ? rb[2 * hid + j] : 0.0f;
                    float xh = gb[2 * hid + j] + (wb ? wb[2 * hid + j] : 0.0f);
                    float v = linear_before_reset ? xh + gb[hid + j] * (rcb[2 * hid + j] + rbh)
                                                  : xh + (rcb[2 * hid + j] + rbh);
                    float hh = ep_rnn_activation(act[1], al[1], be[1], clipped(v, clip));
                    float z = gb[j];
                    hb[j] = hh + z * (hb[j] - hh);
                }
                if (y) {
                    memcpy((float *)y->data + ep_rnn_y_at(&g, t, d, bi), hb, (size_t)hid * sizeof(float));
                }
            }
        }
        for (bi = 0; bi < g.batch; ++bi) {
            int64_t at = ep_rnn_state_at(&g, d, bi);
            int empty = seq_lens != NULL && ((const int32_t *)seq_lens->data)[bi] == 0;
            for (j = 0; y_h && j < hid; ++j) {
                ((float *)y_h->data)[at + j] = empty ? 0.0f : hs[bi * hid + j];
            }
        }
    }
    return EP_OK;
}
