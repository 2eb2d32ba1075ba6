/* lstm.h: ONNX LSTM (float32, layout 0, activations Sigmoid/Tanh/Tanh). */
#ifndef EP_OP_LSTM_H
#define EP_OP_LSTM_H

#include "ep_tensor.h"

#define EP_LSTM_FORWARD 0
#define EP_LSTM_REVERSE 1
#define EP_LSTM_BIDIRECTIONAL 2

/* Floats of scratch memory ep_lstm needs: 10 * batch * hidden (gates, recurrent
 * products, h and c of one direction). */
int64_t ep_lstm_scratch_size(int64_t batch, int64_t hidden);

/* x: seq x batch x input; w: dirs x 4H x input; r: dirs x 4H x H (gates i, o, f, c);
 * b: dirs x 8H (Wb then Rb) or NULL; initial_h, initial_c: dirs x batch x H or NULL (zeros);
 * p: dirs x 3H peepholes (i, o, f) or NULL. Outputs (each may be NULL): y: seq x dirs x batch x H,
 * y_h, y_c: dirs x batch x H. `clip` > 0 clips every gate's input to [-clip, clip];
 * `input_forget` couples f = 1 - i. `scratch` holds ep_lstm_scratch_size() floats. */
int ep_lstm(const ep_tensor *x, const ep_tensor *w, const ep_tensor *r, const ep_tensor *b,
            const ep_tensor *initial_h, const ep_tensor *initial_c, const ep_tensor *p,
            ep_tensor *y, ep_tensor *y_h, ep_tensor *y_c,
            int32_t direction, float clip, int32_t input_forget, float *scratch);

#endif
