/* ep_rnn.c: recurrent activations, sequence lengths and layouts (see ep_rnn.h). */
#include <math.h>

#include "ep_rnn.h"

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
