// MatMul (batched, broadcast) and Gemm on the tiled core of gemm_tile.cl.
//
// Y[b] (M x N) = alpha * A[b] (M x K) @ B[b] (K x N) + beta * C, with arbitrary element strides
// for A and B (transposes are strides), a batch of up to two levels (b = b1 * nb2 + b2, each
// input with its own stride per level, 0 when broadcast) and an optional C read with strides
// (0 along broadcast axes). Built with -DT=float (or half).

#include "gemm_tile.cl"

__kernel __attribute__((reqd_work_group_size(LX, LY, 1)))
void gemm(const int M, const int N, const int K,
          __global const T* A, const int a_sm, const int a_sk, const int a_b1, const int a_b2,
          __global const T* B, const int b_sk, const int b_sn, const int b_b1, const int b_b2,
          const int nb2, const float alpha,
          __global const T* C, const int c_sm, const int c_sn, const float beta, const int has_c,
          __global T* Y) {
    const int bz = get_global_id(2);
    const int b1 = bz / nb2, b2 = bz % nb2;
    __global const T* Ab = A + b1 * a_b1 + b2 * a_b2;
    __global const T* Bb = B + b1 * b_b1 + b2 * b_b2;
#define LOAD_A(m, k) ((float)Ab[(m) * a_sm + (k) * a_sk])
#define LOAD_B(k, n) ((float)Bb[(k) * b_sk + (n) * b_sn])
    GEMM_TILE_LOOP(M, N, K)
#undef LOAD_A
#undef LOAD_B
    __global T* Yb = Y + (long)bz * M * N;
    for (int i = 0; i < WPT_M; ++i) {
        const int m = m0 + ty + i * LY;
        if (m >= M) continue;
        for (int j = 0; j < WPT_N; ++j) {
            const int n = n0 + tx + j * LX;
            if (n >= N) continue;
            float v = alpha * acc[i][j];
            if (has_c) v += beta * (float)C[m * c_sm + n * c_sn];
            Yb[m * N + n] = (T)v;
        }
    }
}
