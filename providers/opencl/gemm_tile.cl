// A tiled matrix-product core shared by matmul.cl (MatMul, Gemm) and conv.cl (Conv as implicit GEMM).
//
// A work-group of LX x LY = 16 x 16 work-items computes a TS_M x TS_N = 64 x 64 block of the
// output; each work-item holds a WPT_M x WPT_N = 4 x 4 block of accumulators in registers.
// Per step of TS_K along K, the group stages a TS_K x TS_M tile of A and a TS_K x TS_N tile of
// B in local memory (loads outside the matrices read as 0, so M, N, K need not be multiples of
// the tile sizes). The includer defines LOAD_A(m, k) and LOAD_B(k, n) (guarded loads as float)
// before expanding GEMM_TILE_LOOP, which leaves acc[WPT_M][WPT_N] for rows
// m0 + ty + i * LY and columns n0 + tx + j * LX.

#ifdef USE_HALF
#pragma OPENCL EXTENSION cl_khr_fp16 : enable
#endif

#define TS_M 64
#define TS_N 64
#define TS_K 16
#define WPT_M 4
#define WPT_N 4
#define LX (TS_N / WPT_N)
#define LY (TS_M / WPT_M)
#define NTHREADS (LX * LY)

#define GEMM_TILE_LOOP(M, N, K)                                                         \
    __local float As[TS_K][TS_M];                                                       \
    __local float Bs[TS_K][TS_N];                                                       \
    const int tx = get_local_id(0), ty = get_local_id(1);                               \
    const int tid = ty * LX + tx;                                                       \
    const int m0 = get_group_id(1) * TS_M, n0 = get_group_id(0) * TS_N;                \
    float acc[WPT_M][WPT_N];                                                            \
    for (int i = 0; i < WPT_M; ++i)                                                     \
        for (int j = 0; j < WPT_N; ++j) acc[i][j] = 0.0f;                               \
    for (int k0 = 0; k0 < (K); k0 += TS_K) {                                            \
        for (int l = 0; l < (TS_K * TS_M) / NTHREADS; ++l) {                            \
            const int e = tid + l * NTHREADS;                                           \
            const int kk = e % TS_K, mm = e / TS_K;                                     \
            const int gm = m0 + mm, gk = k0 + kk;                                       \
            As[kk][mm] = (gm < (M) && gk < (K)) ? LOAD_A(gm, gk) : 0.0f;                \
        }                                                                               \
        for (int l = 0; l < (TS_K * TS_N) / NTHREADS; ++l) {                            \
            const int e = tid + l * NTHREADS;                                           \
            const int nn = e % TS_N, kk = e / TS_N;                                     \
            const int gn = n0 + nn, gk = k0 + kk;                                       \
            Bs[kk][nn] = (gn < (N) && gk < (K)) ? LOAD_B(gk, gn) : 0.0f;                \
        }                                                                               \
        barrier(CLK_LOCAL_MEM_FENCE);                                                   \
        for (int kk = 0; kk < TS_K; ++kk) {                                             \
            float a[WPT_M], b[WPT_N];                                                   \
            for (int i = 0; i < WPT_M; ++i) a[i] = As[kk][ty + i * LY];                 \
            for (int j = 0; j < WPT_N; ++j) b[j] = Bs[kk][tx + j * LX];                 \
            for (int i = 0; i < WPT_M; ++i)                                             \
                for (int j = 0; j < WPT_N; ++j) acc[i][j] = mad(a[i], b[j], acc[i][j]); \
        }                                                                               \
        barrier(CLK_LOCAL_MEM_FENCE);                                                   \
    }
