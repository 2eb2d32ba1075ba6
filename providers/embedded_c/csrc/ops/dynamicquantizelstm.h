/* dynamicquantizelstm.h: com.microsoft DynamicQuantizeLSTM, the LSTM `quantize_dynamic` writes: int8 or
 * uint8 weights with per-direction or per-column scales, the float operands quantized to uint8 at run time. */
#ifndef EP_OP_DYNAMICQUANTIZELSTM_H
#define EP_OP_DYNAMICQUANTIZELSTM_H

#include "ep_rnn.h"
#include "ep_tensor.h"

/* Floats of scratch ep_dynamicquantizelstm needs: the quantized X and its integer input projection, one
 * step's quantized H and integer products, the gates, the scales and one direction's H and C. */
int64_t ep_dynamicquantizelstm_scratch_size(int64_t seq, int64_t batch, int64_t input, int64_t hidden);

/* Layout 0 only: x seq x batch x input (float32), y seq x dirs x batch x H, states dirs x batch x H.
 * The weights come as lowering.py prepares them from the model's W [dirs, input, 4H] and R [dirs, H, 4H]:
 * wt dirs x 4H x input and rt dirs x 4H x H, int8 (W^T and R^T; uint8 weights with their top bit flipped,
 * w - 128), w_sums and r_sums dirs x 4H int32 (the sum of each row), w_scale and r_scale dirs x 4H float32
 * (a per-direction scale repeated), zero_points[2 * dirs] the zero points of W then R per direction in the
 * same int8 terms (a uint8 one moved by -128). b dirs x 8H (Wb then Rb) or NULL; seq_lens int32 (batch)
 * or NULL; initial_h, initial_c or NULL (zeros); p dirs x 3H (i, o, f) or NULL; outputs y, y_h, y_c, each
 * may be NULL. acts, alpha, beta, clip, input_forget as ep_lstm's.
 *
 * As the cpu provider computes it (providers/cpu/contrib/quantized_lstm.py): X of the steps up to the
 * longest sequence is quantized once to uint8 over [min(x, 0), max(x, 0)] (DynamicQuantizeLinear's
 * scale and zero point), its products with W are exact integers scaled by x_scale * w_scale; every step
 * quantizes H_{t-1} of the whole batch alike (with `zero_finished`, an entry past its length as zeros,
 * else as its last H) and multiplies it exactly by R, scaled by h_scale * r_scale; gates = that + the
 * input projection + Wb + Rb. A NaN or infinity in X (or in H) makes the gates it reaches NaN.
 * EP_ERR_ARG also for an input or hidden size over EP_DQLSTM_MAX_K (the int32 sums could overflow).
 * `scratch` holds ep_dynamicquantizelstm_scratch_size() floats. */
int ep_dynamicquantizelstm(const ep_tensor *x, const ep_tensor *wt, const ep_tensor *w_sums, const ep_tensor *w_scale,
                           const ep_tensor *rt, const ep_tensor *r_sums, const ep_tensor *r_scale,
                           const int64_t *zero_points, const ep_tensor *b, const ep_tensor *seq_lens,
                           const ep_tensor *initial_h, const ep_tensor *initial_c, const ep_tensor *p, ep_tensor *y,
                           ep_tensor *y_h, ep_tensor *y_c, int32_t direction, const int64_t *acts, const float *alpha,
                           const float *beta, float clip, int32_t input_forget, int32_t zero_finished,
                           float *scratch);

/* The longest input or hidden size taken: every int32 sum of up to this many u8 x s8 products (and its
 * zero-point terms) is exact. */
#define EP_DQLSTM_MAX_K 16384

#endif
