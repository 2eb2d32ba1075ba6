/* ep_sgemm.h: the float32 matrix product shared by Gemm, MatMul and Conv.
 *
 * Register-blocked and cache-blocked loop nests written so that a C99 compiler vectorizes them
 * (no intrinsics, no allocation; with GCC/Clang vector extensions, strips of b are packed into a
 * 16-32 KiB buffer on the stack). Summation order differs from a naive loop, so results agree
 * with it to rounding, not bit for bit.
 */
#ifndef EP_SGEMM_H
#define EP_SGEMM_H

#include "ep_tensor.h"

/* c (m x n, row stride ldc) = a (m x k) * b (k x n, row stride ldb); element (i, q) of a is at
 * a[i * sam + q * sak] (row-major: sam = lda, sak = 1; transposed: sam = 1, sak = lda). */
void ep_sgemm_nn(int64_t m, int64_t n, int64_t k, const float *a, int64_t sam, int64_t sak,
                 const float *b, int64_t ldb, float *c, int64_t ldc);

/* Where the rows of a product's right operand start: row q = ci * taps + t (0 <= t < taps) at
 * b + ci * cstride + toff[t] (toff NULL: 0), its n elements contiguous. A plain matrix is taps = 1 and
 * cstride its row stride; a convolution's taps read in place from zero-padded input planes are its
 * kernel's taps, the channel stride and each tap's offset in the planes. */
typedef struct ep_sgemm_rows {
    const float *b;
    int64_t taps, cstride;
    const int64_t *toff;
} ep_sgemm_rows;

/* c (m x n, row stride ldc) = a (m x k, element (i, q) at a[i * sam + q * sak]) * b, b's rows as
 * `b` places them (taps >= 1). */
void ep_sgemm_nn_rows(int64_t m, int64_t n, int64_t k, const float *a, int64_t sam, int64_t sak,
                      const ep_sgemm_rows *b, float *c, int64_t ldc);

/* ep_sgemm_nn_rows over columns gathered in runs: column j of b's row q is element (j / run) * pitch + j % run
 * of that row (run >= 1), so a convolution's output positions are read from its padded planes without the
 * columns past each output row, and c holds the output rows themselves. */
void ep_sgemm_nn_runs(int64_t m, int64_t n, int64_t k, const float *a, int64_t sam, int64_t sak,
                      const ep_sgemm_rows *b, int64_t run, int64_t pitch, float *c, int64_t ldc);

/* c (m x n, row stride ldc) = a (m x k, row stride lda) * b^T, b being n x k with row stride ldb. */
void ep_sgemm_nt(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *b, int64_t ldb,
                 float *c, int64_t ldc);

#endif /* EP_SGEMM_H */
