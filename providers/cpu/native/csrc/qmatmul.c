/* The float-output integer matrix products of MatMulIntegerToFloat and DynamicQuantizeMatMul with a constant
 * B (quantized.py's _FloatGemmPlan) in one call: [quantize A,] A's row sums, the per-column multipliers
 * a_scale * b_scale and the integer GEMM with its scale and bias epilogue (qgemm.c). The same functions and
 * arithmetic as the Python side's separate calls, so the same bits; one call instead of four, each of which
 * costs microseconds when a small product runs between larger nodes (its code and the interpreter's out
 * of cache).
 */
#include <stdlib.h>

#include "ep_native.h"

/* rows of A a block of the float path quantizes at a time: about 64 KiB of bytes, at least one row tile */
EP_INLINE int64_t block_rows(int64_t k) {
    const int64_t rows = ((int64_t)1 << 16) / k;
    return rows < 6 ? 6 : rows;
}

typedef struct {
    const float *xf;
    int64_t m, k, n, parts;
    float scale;
    int32_t zero;
    const int8_t *panels;
    const int32_t *ssum, *szero;
    int64_t szero_step;
    const float *mult, *bias;
    float *y;
} float_rows_job;

/* one part's rows of the float path, a block at a time: the block's bytes (quantized with A's scale and
 * zero point), its row sums and its GEMM on the calling thread, so that A's bytes never leave the cache */
static int float_rows_part(void *ctx, int64_t part) {
    const float_rows_job *j = (const float_rows_job *)ctx;
    int64_t b, e;
    ep_part_range(j->m, j->parts, part, 1, &b, &e);
    const int64_t step = block_rows(j->k);
    uint8_t *q = malloc((size_t)(step * j->k));
    int32_t *sums = malloc((size_t)step * sizeof *sums);
    int rc = (!q || !sums) ? -1 : 0;
    for (int64_t r0 = b; rc == 0 && r0 < e; r0 += step) {
        const int64_t rows = e - r0 < step ? e - r0 : step;
        ep_dynamic_quantize_with(j->xf + r0 * j->k, rows * j->k, q, j->scale, (uint8_t)j->zero);
        rc = ep_qrow_sums(q, rows, j->k, j->k, 0, sums, 1);
        if (rc == 0)
            rc = ep_qgemm_u8s8(q, j->k, j->panels, rows, j->n, j->k, j->k, sums, j->ssum, &j->zero, 0, j->szero,
                               j->szero_step, j->y + r0 * j->n, j->n, j->mult, j->bias, 1);
    }
    free(q);
    free(sums);
    return rc;
}

/* y (m x n, float32) = (A - zero) (B - b_zero) * (scale * b_scale[j]) + bias[j], A m rows of k uint8 (k a
 * multiple of 4, k > 0):
 * - xf not NULL: A = DynamicQuantizeLinear(xf) (m * k floats); scale and zero are A's, as
 *   ep_dynamic_quantize_u8 computes them, and x_scale / x_zero are ignored. A's bytes are made a block of
 *   rows at a time, right before the block's GEMM: never the whole of A at once (tashkeel's attention
 *   quantizes 8 MiB of bytes for a product with one column);
 * - else A = xq with x_scale and x_zero (0..255).
 * B: panels, column sums, zero points (szero_step 0: one for every column, 1: one a column) as
 * ep_qpack_panels made them; b_scale [n] float32; bias [n] or NULL.
 * Returns 0; 1 when xf holds a NaN or an infinity (y untouched: the caller runs the numpy kernel); -1 out of
 * memory; -2 bad sizes; another code of the functions it calls. */
int ep_qmatmul_f32(const float *xf, const uint8_t *xq, float x_scale, int32_t x_zero, int64_t m, int64_t k,
                   const int8_t *panels, const int32_t *ssum, const int32_t *szero, int64_t szero_step, int64_t n,
                   const float *b_scale, const float *bias, float *y, int64_t threads) {
    if (m <= 0 || n <= 0 || k <= 0 || k % 4 || x_zero < 0 || x_zero > 255) return -2;
    if (!ep_sizes_fit(m, k, 1) || !ep_sizes_fit(m + n, 1, 4)) return -1;
    float *mult = malloc((size_t)n * sizeof *mult);
    if (!mult) return -1;
    int rc = 0;
    if (xf) {
        float scale = 0.0f;
        uint8_t zero = 0;
        rc = ep_dynamic_quantize_params(xf, m * k, &scale, &zero, threads);
        if (rc == 0) {
            for (int64_t j = 0; j < n; j++) mult[j] = scale * b_scale[j];
            float_rows_job job = {xf, m, k, n, 1, scale, zero, panels, ssum, szero, szero_step, mult, bias, y};
            const int64_t units = (m + block_rows(k) - 1) / block_rows(k);
            const int64_t parts = ep_parts_for(threads, m * n * k, (int64_t)1 << 20);
            job.parts = parts < units ? parts : units;
            if (job.parts < 1) job.parts = 1;
            rc = job.parts == 1 ? float_rows_part(&job, 0) : ep_parallel_for(threads, job.parts, float_rows_part, &job);
        }
        free(mult);
        return rc;
    }
    int32_t *sums = malloc((size_t)m * sizeof *sums);
    if (!sums) {
        free(mult);
        return -1;
    }
    const int32_t zero = x_zero;
    rc = ep_qrow_sums(xq, m, k, k, 0, sums, threads);
    for (int64_t j = 0; j < n; j++) mult[j] = x_scale * b_scale[j];
    if (rc == 0)
        rc = ep_qgemm_u8s8(xq, k, panels, m, n, k, k, sums, ssum, &zero, 0, szero, szero_step, y, n, mult, bias,
                           threads);
    free(sums);
    free(mult);
    return rc;
}
