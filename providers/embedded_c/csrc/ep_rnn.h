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

/* Floats one projection block holds at most (EP_RNN_BLOCK_FLOATS / (batch * (input + 2 * gates *
 * hidden)) steps, at least one); lowering.py's rnn_scratch mirrors it. */
#define EP_RNN_BLOCK_FLOATS 262144

/* Where one LSTM (gates 4) or GRU (gates 3) call keeps what it computes, in its scratch. */
typedef struct ep_rnn_scratch {
    int64_t block;   /* steps one projection block holds: see EP_RNN_BLOCK_FLOATS (0 when seq is 0) */
    int w_transposed; /* the caller's W is W^T (dirs x input x gates * hidden; then few_rows is 0) */
    int few_rows;    /* a block has at most gates * hidden rows: the projection is computed as W X^T */
    int64_t ldp;     /* proj's row stride: block * batch when few_rows (proj^T), else gates * hidden */
    float *xbuf;     /* block * batch * input: the block's input rows (X^T when few_rows) */
    float *proj;     /* block * batch * gates * hidden: their projections (transposed when few_rows) */
    float *rt;       /* gates * hidden * hidden when ep_rnn_transposes(batch) (R transposed), else none */
    float *rec;      /* batch * gates * hidden: the step's recurrent products and gates */
    float *h, *c;    /* batch * hidden each: the running direction's H and C (GRU: H and r * H) */
} ep_rnn_scratch;

/* Floats of scratch the layout `sc` describes; with `base` set, `sc`'s pointers point into it (W not
 * transposed: a caller with W^T sets w_transposed, few_rows 0 and ldp gates * hidden; the sizes hold). */
int64_t ep_rnn_scratch_layout(const ep_rnn_geometry *g, int64_t gates, float *base, ep_rnn_scratch *sc);

/* Floats of scratch LSTM (gates 4) or GRU (gates 3) needs (ep_rnn_scratch_layout's). */
int64_t ep_rnn_scratch_size(int64_t seq, int64_t batch, int64_t input, int64_t hidden, int64_t gates);

/* dst (cols x rows) = src (rows x cols) transposed. */
void ep_rnn_transpose(int64_t rows, int64_t cols, const float *src, float *dst);

/* Whether the step's H R^T reads R transposed (batch >= 3: the blocked product's register tiles over
 * rows of R^T) or R itself (one or two rows: dot products over R's rows, as fast, no transpose). */
int ep_rnn_transposes(int64_t batch);

/* c (m x n, row stride ldc) = a (m x k, contiguous) * r^T, r being n x k (contiguous rows); rt is r
 * transposed (k x n, row stride ldt), read instead when ep_rnn_transposes(m) (else it may be NULL). */
void ep_rnn_recur(int64_t m, int64_t n, int64_t k, const float *a, const float *r, const float *rt, int64_t ldt,
                  float *c, int64_t ldc);

/* ep_rnn_recur reading only rt (k x n, row stride ldt: R transposed, e.g. once at lowering time):
 * a pass over rt's rows per row of a (one or two), else the blocked product. */
void ep_rnn_recur_t(int64_t m, int64_t n, int64_t k, const float *a, const float *rt, int64_t ldt, float *c,
                    int64_t ldc);

/* The input projection of steps s0 .. s0 + steps - 1 (steps <= sc->block) of one direction: row
 * (s - s0) * batch + b of the projection (gh floats, in sc->proj: see ep_rnn_add_projection) = X row of
 * (step s, entry b) * wd^T (wd itself when sc->w_transposed) + b1 (gh floats, or NULL) + b2 (its first n2 floats, or NULL); entries past
 * their length project a zero row. */
void ep_rnn_project(const ep_tensor *x, const ep_tensor *lens, const ep_rnn_geometry *g, int64_t s0, int64_t steps,
                    int reverse, const float *wd, int64_t gh, const float *b1, const float *b2, int64_t n2,
                    const ep_rnn_scratch *sc);

/* dst[0..n) += elements from .. from + n - 1 of the projection's row `row` (see ep_rnn_project). */
void ep_rnn_add_projection(const ep_rnn_scratch *sc, int64_t row, int64_t from, int64_t n, float *dst);

/* v[0..n) = activation `kind` (alpha, beta) of v clipped to [-clip, clip] (clip 0: unclipped), in
 * place. Sigmoid (through ep_expf), Tanh and ScaledTanh (through ep_tanh.h's rational ep_tanhf) run in
 * loops that vectorize (relative error at most 1.5e-7 and 4e-7 measured against double precision; NaN
 * and infinities as libm's). */
void ep_rnn_apply(int64_t kind, float alpha, float beta, float clip, float *v, int64_t n);

/* ep_check of an optional descriptor (NULL is fine). */
int ep_check_optional(const ep_tensor *t);

/* EP_OK when x, w and r are set and each of the n optional descriptors `ts` checks (ep_check_optional),
 * direction, layout and clip are in range, x, w and r are 3-D and w of [dirs, gates * hidden, input]
 * and r of [dirs, gates * hidden, hidden] (both with their last two axes swapped when `transposed`)
 * agree with x; fills `g`. */
int ep_rnn_setup(const ep_tensor *x, const ep_tensor *w, const ep_tensor *r, int transposed,
                 const ep_tensor *const *ts, int n, int32_t direction, int32_t layout, float clip, int64_t gates,
                 ep_rnn_geometry *g);

/* The initial state of direction d (`init` NULL: zeros) into `state` (batch x hidden). */
void ep_rnn_load_state(const ep_tensor *init, const ep_rnn_geometry *g, int64_t d, float *state);

/* Step s's input rows into `xg` (batch x input): each entry's own time index, zeros past its length. */
void ep_rnn_step_inputs(const ep_tensor *x, const ep_tensor *lens, const ep_rnn_geometry *g, int64_t s,
                        int reverse, float *xg);

/* The final state of direction d from `state` (batch x hidden) into `out` (NULL: not wanted); an entry of
 * length 0 gets zeros. */
void ep_rnn_store_state(ep_tensor *out, const ep_tensor *lens, const ep_rnn_geometry *g, int64_t d,
                        const float *state);

/* One entry's LSTM cell: `gb` (4 * hid: the i, o, f, c pre-activations; overwritten) with peepholes `pd`
 * (3 * hid: i, o, f; or NULL), `cb` C_{t-1} becomes C_t, `hb` gets H_t; act, al, be: the f, g, h activations
 * (ep_rnn.h kinds) with their alphas and betas; `clip` > 0 clips every gate's input; `input_forget`
 * couples f = 1 - i. */
void ep_lstm_cell(float *gb, float *cb, float *hb, int64_t hid, const float *pd, const int64_t *act, const float *al,
                  const float *be, float clip, int32_t input_forget);

#endif /* EP_RNN_H */
