/* lstm.c: default ONNX LSTM kernel: one direction at a time, gates for the whole batch per step. */
#include <math.h>
#include <string.h>

#include "ep_sgemm.h"
#include "lstm.h"

static float sigmoid(float v)
{
    return 0.5f * tanhf(0.5f * v) + 0.5f;
}

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

int64_t ep_lstm_scratch_size(int64_t batch, int64_t hidden)
{
    return 10 * batch * hidden;
}

/* ep_check of an optional descriptor (NULL is fine). */
static int check_optional(const ep_tensor *t)
{
    return t == NULL ? EP_OK : ep_check(t);
}

int ep_lstm(const ep_tensor *x, const ep_tensor *w, const ep_tensor *r, const ep_tensor *b,
            const ep_tensor *initial_h, const ep_tensor *initial_c, const ep_tensor *p,
            ep_tensor *y, ep_tensor *y_h, ep_tensor *y_c,
            int32_t direction, float clip, int32_t input_forget, float *scratch)
{
    int64_t seq, batch, in, hid, g4, dirs, d, t, s, bi, j;
    float *gates;
    float *rec;
    float *hs;
    float *cs;
    const float *px;
    const ep_tensor *all[10];
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
    all[9] = y_c;
    if (x == NULL || w == NULL || r == NULL) {
        return EP_ERR_ARG;
    }
    for (k = 0; k < 10; ++k) {
        rc = check_optional(all[k]);
        if (rc != EP_OK) {
            return rc;
        }
    }
    if (x->rank != 3 || w->rank != 3 || r->rank != 3) {
        return EP_ERR_SHAPE;
    }
    seq = x->dims[0];
    batch = x->dims[1];
    in = x->dims[2];
    dirs = direction == EP_LSTM_BIDIRECTIONAL ? 2 : 1;
    g4 = w->dims[1];
    hid = g4 / 4;
    if (direction < 0 || direction > 2 || w->dims[0] != dirs || w->dims[2] != in || g4 != 4 * hid ||
        r->dims[0] != dirs || r->dims[1] != g4 || r->dims[2] != hid || (b && ep_numel(b) != dirs * 8 * hid) ||
        (p && ep_numel(p) != dirs * 3 * hid) || (initial_h && ep_numel(initial_h) != dirs * batch * hid) ||
        (initial_c && ep_numel(initial_c) != dirs * batch * hid) ||
        (y && ep_numel(y) != seq * dirs * batch * hid) || (y_h && ep_numel(y_h) != dirs * batch * hid) ||
        (y_c && ep_numel(y_c) != dirs * batch * hid)) {
        return EP_ERR_SHAPE;
    }
    if (scratch == NULL && batch * hid > 0) {
        return EP_ERR_ARG;
    }
    gates = scratch;
    rec = scratch + 4 * batch * hid;
    hs = rec + 4 * batch * hid;
    cs = hs + batch * hid;
    px = (const float *)x->data;

    for (d = 0; d < dirs; ++d) {
        const float *wd = (const float *)w->data + d * g4 * in;
        const float *rd = (const float *)r->data + d * g4 * hid;
        const float *wb = b ? (const float *)b->data + d * 8 * hid : NULL;
        const float *pd = p ? (const float *)p->data + d * 3 * hid : NULL;
        int reverse = direction == EP_LSTM_REVERSE || d == 1;
        if (initial_h) {
            memcpy(hs, (const float *)initial_h->data + d * batch * hid, (size_t)(batch * hid) * sizeof(float));
        } else {
            memset(hs, 0, (size_t)(batch * hid) * sizeof(float));
        }
        if (initial_c) {
            memcpy(cs, (const float *)initial_c->data + d * batch * hid, (size_t)(batch * hid) * sizeof(float));
        } else {
            memset(cs, 0, (size_t)(batch * hid) * sizeof(float));
        }
        for (s = 0; s < seq; ++s) {
            t = reverse ? seq - 1 - s : s;
            /* gates (batch x 4H) = x_t W^T + h R^T + Wb + Rb */
            ep_sgemm_nt(batch, g4, in, px + t * batch * in, in, wd, in, gates, g4);
            ep_sgemm_nt(batch, g4, hid, hs, hid, rd, hid, rec, g4);
            for (bi = 0; bi < batch; ++bi) {
                float *gb = gates + bi * g4;
                const float *rb = rec + bi * g4;
                for (j = 0; j < g4; ++j) {
                    gb[j] += rb[j] + (wb ? wb[j] + wb[g4 + j] : 0.0f);
                }
            }
            for (bi = 0; bi < batch; ++bi) {
                float *gb = gates + bi * g4;
                float *hb = hs + bi * hid;
                float *cb = cs + bi * hid;
                for (j = 0; j < hid; ++j) {
                    float c_prev = cb[j];
                    float gi = gb[j];
                    float go = gb[hid + j];
                    float gf = gb[2 * hid + j];
                    float gc = gb[3 * hid + j];
                    float it, ft, ot, cn;
                    if (pd) {
                        gi += pd[j] * c_prev;
                        gf += pd[2 * hid + j] * c_prev;
                    }
                    it = sigmoid(clipped(gi, clip));
                    ft = input_forget ? 1.0f - it : sigmoid(clipped(gf, clip));
                    cn = ft * c_prev + it * tanhf(clipped(gc, clip));
                    if (pd) {
                        go += pd[hid + j] * cn;
                    }
                    ot = sigmoid(clipped(go, clip));
                    cb[j] = cn;
                    hb[j] = ot * tanhf(cn);
                }
            }
            if (y) {
                float *yt = (float *)y->data + (t * dirs + d) * batch * hid;
                memcpy(yt, hs, (size_t)(batch * hid) * sizeof(float));
            }
        }
        if (y_h) {
            memcpy((float *)y_h->data + d * batch * hid, hs, (size_t)(batch * hid) * sizeof(float));
        }
        if (y_c) {
            memcpy((float *)y_c->data + d * batch * hid, cs, (size_t)(batch * hid) * sizeof(float));
        }
    }
    return EP_OK;
}
