/* ep_rnn.h: what LSTM and GRU share: the ONNX recurrent activation functions, the time step each
 * batch entry takes under `sequence_lens`, and the offsets of layouts 0 and 1. */
#ifndef EP_RNN_H
#define EP_RNN_H

#include "ep_tensor.h"

/* Activation kinds (the names of the ONNX `activations` attribute). */
#define EP_ACT_SIGMOID 0
#define EP_ACT_TANH 1
#define EP_ACT_RELU 2
#define EP_ACT_AFFINE 3          /* alpha * x + beta */
#define EP_ACT_LEAKYRELU 4       /* alpha */
#define EP_ACT_THRESHOLDEDRELU 5 /* x if x > alpha else 0 */
#define EP_ACT_SCALEDTANH 6      /* alpha * tanh(beta * x) */
#define EP_ACT_HARDSIGMOID 7     /* clip(alpha * x + beta, 0, 1) */
#define EP_ACT_ELU 8             /* alpha */
#define EP_ACT_SOFTSIGN 9
#define EP_ACT_SOFTPLUS 10

#define EP_RNN_FORWARD 0
#define EP_RNN_REVERSE 1
#define EP_RNN_BIDIRECTIONAL 2

/* The shape of one recurrent node's run. */
typedef struct ep_rnn_geometry {
    int64_t seq, batch, input, hidden, dirs;
    int32_t layout; /* 0: X (seq, batch, input), states (dirs, batch, hidden); 1: batch first */
} ep_rnn_geometry;

/* activation `kind` with its alpha and beta applied to v. */
float ep_rnn_activation(int64_t kind, float alpha, float beta, float v);

/* Whether all n kinds are known activations (a NULL array is fine: the defaults). */
int ep_rnn_kinds_ok(const int64_t *kinds, int64_t n);

/* EP_OK when `lens` (NULL: every entry runs all steps) is an int32 tensor of `batch` values in
 * 0..seq (EP_ERR_DTYPE, EP_ERR_SHAPE, EP_ERR_ARG otherwise). */
int ep_rnn_check_lens(const ep_tensor *lens, int64_t batch, int64_t seq);

/* The time index batch entry b processes at step s (reverse: from its last valid step back), or
 * -1 when its sequence is over. */
int64_t ep_rnn_time(const ep_tensor *lens, const ep_rnn_geometry *g, int64_t s, int64_t b, int reverse);

/* Element offsets of X row (t, b), of Y's (t, d, b) row and of a state's (d, b) row. */
int64_t ep_rnn_x_at(const ep_rnn_geometry *g, int64_t t, int64_t b);
int64_t ep_rnn_y_at(const ep_rnn_geometry *g, int64_t t, int64_t d, int64_t b);
int64_t ep_rnn_state_at(const ep_rnn_geometry *g, int64_t d, int64_t b);

/* ep_check of an optional descriptor (NULL is fine). */
int ep_check_optional(const ep_tensor *t);

#endif /* EP_RNN_H */
