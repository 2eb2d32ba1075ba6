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

// Stage the TS_K x WIDTH tile at (k0, X0) of a K x XN operand in local memory TILE[kk][xx], reading
// LOAD (an expression of its position gk, gx) inside the operand and 0 outside. Work-items take
// consecutive elements along k (K_FAST) or along x, whichever is the operand's contiguous axis.
#define STAGE_TILE(TILE, WIDTH, K_FAST, X0, XN, K, LOAD)                                \
    for (int l = 0; l < (TS_K * (WIDTH)) / NTHREADS; ++l) {                             \
        const int e = tid + l * NTHREADS;                                               \
        const int kk = (K_FAST) ? e % TS_K : e / (WIDTH);                               \
        const int xx = (K_FAST) ? e / TS_K : e % (WIDTH);                               \
        const int gx = (X0) + xx, gk = k0 + kk;                                         \
        TILE[kk][xx] = (gx < (XN) && gk < (K)) ? (LOAD) : 0.0f;                         \
    }

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
        STAGE_TILE(As, TS_M, 1, m0, M, K, LOAD_A(gx, gk))                               \
        STAGE_TILE(Bs, TS_N, 0, n0, N, K, LOAD_B(gk, gx))                               \
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
