/* Elementwise activations over a contiguous float32 array. */
#include "ep_native.h"

int ep_native_abi_version(void) { return 5; }

/* elements a thread takes at least (below, waking a worker costs more than it saves), and the
 * multiple each thread's run starts at */
#define EP_ACT_GRAIN (1 << 15)
/* elements below which a call runs on one thread (GELU over 128K floats: 85 us on one thread, 122 us on two) */
#define EP_ACT_LEAST (1 << 18)
#define EP_ACT_ALIGN 1024

typedef struct {
    const float *x;
    float *y;
    int64_t n, parts;
    int kind;
    float alpha, beta;
} act_job;

EP_DISPATCH
static int act_part(void *ctx, int64_t part) {
    const act_job *j = (const act_job *)ctx;
    int64_t b, e;
    ep_part_range(j->n, j->parts, part, EP_ACT_ALIGN, &b, &e);
    ep_act_run(j->x + b, j->y + b, e - b, j->kind, j->alpha, j->beta);
    return 0;
}

/* y = act(x) elementwise; returns 0, or -1 for an unknown activation code. */
EP_DISPATCH
int ep_activation_f32(const float *x, float *y, int64_t n, int kind, float alpha, float beta, int64_t threads) {
    if (kind < 0 || kind >= EP_ACT_COUNT) return -1;
    act_job j = {x, y, n, ep_parts_from(threads, n, EP_ACT_GRAIN, EP_ACT_LEAST), kind, alpha, beta};
    if (j.parts == 1) {
        ep_act_run(x, y, n, kind, alpha, beta);
        return 0;
    }
    return ep_parallel_for(threads, j.parts, act_part, &j);
}
