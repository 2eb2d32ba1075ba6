/* lstm.h: ONNX LSTM (float32; layouts 0 and 1, sequence_lens, any activations). */
#ifndef EP_OP_LSTM_H
#define EP_OP_LSTM_H

#include "ep_rnn.h"
#include "ep_tensor.h"

#define EP_LSTM_FORWARD EP_RNN_FORWARD
#define EP_LSTM_REVERSE EP_RNN_REVERSE
#define EP_LSTM_BIDIRECTIONAL EP_RNN_BIDIRECTIONAL

/* Floats of scratch memory ep_lstm needs: ep_rnn_scratch_size with 4 gates (a block of input rows and
 * their projections, R transposed from batch 3, the step's recurrent products, h and c of one direction). */
int64_t ep_lstm_scratch_size(int64_t seq, int64_t batch, int64_t hidden, int64_t input);

/* Layout 0: x seq x batch x input, y seq x dirs x batch x H, states dirs x batch x H; layout 1:
 * x batch x seq x input, y batch x seq x dirs x H, states batch x dirs x H.
 * w: dirs x 4H x input; r: dirs x 4H x H (gates i, o, f, c); b: dirs x 8H (Wb then Rb) or NULL;
 * seq_lens: int32 (batch), values 0..seq, or NULL (all steps): an entry's steps past its length
 * leave Y zero and its states as they were (zero when the length is 0);
 * initial_h, initial_c or NULL (zeros); p: dirs x 3H peepholes (i, o, f) or NULL. Outputs (each
 * may be NULL): y, y_h, y_c. `acts`, `alpha`, `beta`: 3 activations (f, g, h) per direction
 * (ep_rnn.h kinds), or acts NULL for Sigmoid, Tanh, Tanh. `clip` > 0 clips every gate's input to
 * [-clip, clip]; `input_forget` couples f = 1 - i. `scratch` holds ep_lstm_scratch_size() floats. */
int ep_lstm(const ep_tensor *x, const ep_tensor *w, const ep_tensor *r, const ep_tensor *b, const ep_tensor *seq_lens,
            const ep_tensor *initial_h, const ep_tensor *initial_c, const ep_tensor *p,
            ep_tensor *y, ep_tensor *y_h, ep_tensor *y_c, int32_t direction, int32_t layout,
            const int64_t *acts, const float *alpha, const float *beta, float clip, int32_t input_forget,
            float *scratch);

/* ep_lstm with W and R given transposed: wt is dirs x input x 4H, rt dirs x H x 4H (wt[d] = w[d]^T,
 * rt[d] = r[d]^T, e.g. made once at lowering time when both are constants), their rows streamed as they
 * lie; same scratch, same results within rounding. */
int ep_lstm_rt(const ep_tensor *x, const ep_tensor *wt, const ep_tensor *rt, const ep_tensor *b,
               const ep_tensor *seq_lens, const ep_tensor *initial_h, const ep_tensor *initial_c, const ep_tensor *p,
               ep_tensor *y, ep_tensor *y_h, ep_tensor *y_c, int32_t direction, int32_t layout,
               const int64_t *acts, const float *alpha, const float *beta, float clip, int32_t input_forget,
               float *scratch);

#endif
