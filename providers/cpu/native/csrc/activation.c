/* Elementwise activations over a contiguous float32 array. */
#include "ep_native.h"

int ep_native_abi_version(void) { return 3; }

/* elements a thread takes at least (below, waking a worker costs more than it saves), and the
 * multiple each thread's run starts at */
#define EP_ACT_GRAIN (1 << 16)
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
    act_job j = {x, y, n, ep_parts_for(threads, n, EP_ACT_GRAIN), kind, alpha, beta};
    if (j.parts == 1) {
        ep_act_run(x, y, n, kind, alpha, beta);
        return 0;
    }
    return ep_parallel_for(threads, j.parts, act_part, &j);
}

typedef struct {
    float *y;
    const float *bias, *residual;
    int64_t ldy, ldr, rows, cols, parts;
    int kind;
    float alpha, beta;
} epilogue_job;

EP_DISPATCH
static int epilogue_part(void *ctx, int64_t part) {
    const epilogue_job *j = (const epilogue_job *)ctx;
    int64_t r0, r1;
    ep_part_range(j->rows, j->parts, part, 1, &r0, &r1);
    for (int64_t r = r0; r < r1; r++) {
        float *row = j->y + r * j->ldy;
        if (j->bias) {
            const float bv = j->bias[r];
            for (int64_t i = 0; i < j->cols; i++) row[i] += bv;
        }
        if (j->residual) {
            const float *res = j->residual + r * j->ldr;
            for (int64_t i = 0; i < j->cols; i++) row[i] += res[i];
        }
        ep_act_run(row, row, j->cols, j->kind, j->alpha, j->beta);
    }
    return 0;
}

/* The epilogue of a convolution computed as a GEMM, in place on `rows` rows of `cols` values (row r
 * at y + r * ldy): y = act((y + bias[r]) + residual), residual's row r at residual + r * ldr; bias
 * and residual may be NULL. Returns 0, or -1 for an unknown activation code. */
EP_DISPATCH
int ep_bias_act_f32(float *y, int64_t ldy, const float *bias, const float *residual, int64_t ldr, int64_t rows,
                    int64_t cols, int kind, float alpha, float beta, int64_t threads) {
    if (kind < 0 || kind >= EP_ACT_COUNT) return -1;
    epilogue_job j = {y, bias, residual, ldy, ldr, rows, cols, 1, kind, alpha, beta};
    const int64_t parts = ep_parts_for(threads, rows * cols, EP_ACT_GRAIN);
    j.parts = parts < rows ? parts : rows;
    if (j.parts <= 1) return epilogue_part(&j, 0);
    return ep_parallel_for(threads, j.parts, epilogue_part, &j);
}
