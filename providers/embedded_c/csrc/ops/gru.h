/* gru.h: ONNX GRU (float32; layouts 0 and 1, sequence_lens, any activations, linear_before_reset). */
#ifndef EP_OP_GRU_H
#define EP_OP_GRU_H

#include "ep_rnn.h"
#include "ep_tensor.h"

/* Floats of scratch memory ep_gru needs: ep_rnn_scratch_size with 3 gates. */
int64_t ep_gru_scratch_size(int64_t seq, int64_t batch, int64_t hidden, int64_t input);

/* Layouts, seq_lens, initial_h, y and y_h as ep_lstm's (lstm.h). w: dirs x 3H x input; r: dirs x
 * 3H x H (gates z, r, h); b: dirs x 6H (Wb then Rb) or NULL. `acts`, `alpha`, `beta`: 2
 * activations (f, g) per direction, or acts NULL for Sigmoid, Tanh. H_t = (1 - z) * h~ + z * H_{t-1},
 * h~ = g(x W_h + r * (H R_h + Rb_h) + Wb_h) with `linear_before_reset`, else
 * g(x W_h + (r * H) R_h + Rb_h + Wb_h). `scratch` holds ep_gru_scratch_size() floats. */
int ep_gru(const ep_tensor *x, const ep_tensor *w, const ep_tensor *r, const ep_tensor *b, const ep_tensor *seq_lens,
           const ep_tensor *initial_h, ep_tensor *y, ep_tensor *y_h, int32_t direction, int32_t layout,
           const int64_t *acts, const float *alpha, const float *beta, float clip, int32_t linear_before_reset,
           float *scratch);

/* ep_gru with W and R given transposed: wt is dirs x input x 3H, rt dirs x H x 3H (wt[d] = w[d]^T,
 * rt[d] = r[d]^T, e.g. made once at lowering time when both are constants), their rows streamed as they
 * lie; same scratch, same results within rounding. */
int ep_gru_rt(const ep_tensor *x, const ep_tensor *wt, const ep_tensor *rt, const ep_tensor *b,
              const ep_tensor *seq_lens, const ep_tensor *initial_h, ep_tensor *y, ep_tensor *y_h, int32_t direction,
              int32_t layout, const int64_t *acts, const float *alpha, const float *beta, float clip,
              int32_t linear_before_reset, float *scratch);

#endif
