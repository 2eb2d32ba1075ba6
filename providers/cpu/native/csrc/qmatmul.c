/* The float-output integer matrix products of MatMulIntegerToFloat and DynamicQuantizeMatMul with a constant
 * B (quantized.py's _FloatGemmPlan) in one call: [quantize A,] A's row sums, the per-column multipliers
 * a_scale * b_scale and the integer GEMM with its scale and bias epilogue (qgemm.c). The same functions and
 * arithmetic as the Python side's separate calls, so the same bits; one call instead of four, each of which
 * costs microseconds when a small product runs between larger nodes (its code and the interpreter's out
 * of cache).
 */
#include <stdlib.h>

#include "ep_native.h"

/* y (m x n, float32) = (A - zero) (B - b_zero) * (scale * b_scale[j]) + bias[j], A m rows of k uint8 (k a
 * multiple of 4, k > 0):
 * - xf not NULL: A = DynamicQuantizeLinear(xf) (m * k floats); scale and zero are A's, as
 *   ep_dynamic_quantize_u8 computes them, and x_scale / x_zero are ignored;
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
    uint8_t *q = xf ? malloc((size_t)(m * k)) : NULL;
    int32_t *sums = malloc((size_t)m * sizeof *sums);
    float *mult = malloc((size_t)n * sizeof *mult);
    int rc = 0;
    if ((xf && !q) || !sums || !mult) {
        rc = -1;
        goto done;
    }
    const uint8_t *a = xq;
    float scale = x_scale;
    int32_t zero = x_zero;
    if (xf) {
        uint8_t zero_byte = 0;
        rc = ep_dynamic_quantize_u8(xf, m * k, q, &scale, &zero_byte, threads);
        if (rc != 0) goto done;
        a = q;
        zero = zero_byte;
    }
    rc = ep_qrow_sums(a, m, k, k, 0, sums, threads);
    if (rc != 0) goto done;
    for (int64_t j = 0; j < n; j++) mult[j] = scale * b_scale[j];
    rc = ep_qgemm_u8s8(a, k, panels, m, n, k, k, sums, ssum, &zero, 0, szero, szero_step, y, n, mult, bias, threads);
done:
    free(q);
    free(sums);
    free(mult);
    return rc;
}
