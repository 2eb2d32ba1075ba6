/* Elementwise activations over a contiguous float32 array. */
#include "ep_native.h"

int ep_native_abi_version(void) { return 1; }

/* y = act(x) elementwise; returns 0, or -1 for an unknown activation code. */
EP_DISPATCH
int ep_activation_f32(const float *x, float *y, int64_t n, int kind, float alpha, float beta) {
    if (kind < 0 || kind >= EP_ACT_COUNT) return -1;
    ep_act_run(x, y, n, kind, alpha, beta);
    return 0;
}
