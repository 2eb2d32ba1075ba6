// Register-blocked matrix products for CPU OpenCL devices (PoCL and the like), where local
// memory is ordinary memory and barriers split kernels into slow regions: no local memory, no
// barriers; each work-item keeps a block of the output in vector registers.
// Built with -DT=float (or half).
//
// gemm_nn: B contiguous along N. A work-item computes RM rows x 8*NV columns; per k it loads NV
//          float8 of B and RM scalars of A (any strides).
// gemm_nt: A and B both contiguous along K (Y = A @ B^T: Gemm transB=1, fully-connected layers).
//          A work-item computes 2 rows x 4 columns as dot products of float8 chunks.
// Both: Y = alpha * A @ B + beta * C (C strided, 0 strides broadcasting), batches of up to two
// levels (bz = b1 * nb2 + b2), element offsets for every operand.

#ifdef USE_HALF
#pragma OPENCL EXTENSION cl_khr_fp16 : enable
#define LOAD8(p) convert_float8(vload8(0, p))
#else
#define LOAD8(p) vload8(0, p)
#endif

#ifndef RM
#define RM 8
#endif
#ifndef NV
#define NV 1
#endif

#define BATCH_SETUP                                                                   \
    const int bz = get_global_id(2);                                                  \
    const int b1 = bz / nb2, b2 = bz - (bz / nb2) * nb2;                              \
    A += a_off + (long)b1 * a_b1 + (long)b2 * a_b2;                                   \
    B += b_off + (long)b1 * b_b1 + (long)b2 * b_b2;                                   \
    Y += y_off + (long)b1 * y_b1 + (long)b2 * y_b2;                                   \
    C += c_off + (long)b1 * c_b1 + (long)b2 * c_b2;

#define GEMM_ARGS                                                                     \
    const int M, const int N, const int K,                                            \
    __global const T* A, const int a_off, const int a_sm, const int a_sk, const int a_b1, const int a_b2, \
    __global const T* B, const int b_off, const int b_sk, const int b_sn, const int b_b1, const int b_b2, \
    __global T* Y, const int y_off, const int y_sm, const int y_b1, const int y_b2,   \
    const int nb2, const float alpha,                                                 \
    __global const T* C, const int c_off, const int c_sm, const int c_sn, const int c_b1, const int c_b2, \
    const float beta, const int has_c

#define STORE(m, n, v)                                                                \
    { float v_ = alpha * (v);                                                         \
      if (has_c) v_ += beta * (float)C[(long)(m) * c_sm + (long)(n) * c_sn];          \
      Y[(long)(m) * y_sm + (n)] = (T)v_; }

__kernel void gemm_nn(GEMM_ARGS) {
    const int n0 = get_global_id(0) * (8 * NV);
    const int m0 = get_global_id(1) * RM;
    if (n0 >= N || m0 >= M) return;
    BATCH_SETUP
    __global const T* ar[RM];
    for (int i = 0; i < RM; ++i) ar[i] = A + (long)min(m0 + i, M - 1) * a_sm;
    if (n0 + 8 * NV <= N && b_sn == 1) {
        float8 acc[RM][NV];
        for (int i = 0; i < RM; ++i)
            for (int v = 0; v < NV; ++v) acc[i][v] = (float8)(0.0f);
        __global const T* bp = B + n0;
        for (int k = 0; k < K; ++k) {
            float8 b[NV];
            for (int v = 0; v < NV; ++v) b[v] = LOAD8(bp + (long)k * b_sk + 8 * v);
            const long ko = (long)k * a_sk;
            for (int i = 0; i < RM; ++i) {
                const float8 a = (float8)((float)ar[i][ko]);
                for (int v = 0; v < NV; ++v) acc[i][v] = mad(a, b[v], acc[i][v]);
            }
        }
        for (int i = 0; i < RM && m0 + i < M; ++i) {
            for (int v = 0; v < NV; ++v) {
                float r[8];
                vstore8(acc[i][v], 0, r);
                for (int j = 0; j < 8; ++j) STORE(m0 + i, n0 + 8 * v + j, r[j]);
            }
        }
    } else {
        const int nn = min(8 * NV, N - n0);
        for (int i = 0; i < RM && m0 + i < M; ++i) {
            for (int j = 0; j < nn; ++j) {
                float s = 0.0f;
                for (int k = 0; k < K; ++k)
                    s = mad((float)ar[i][(long)k * a_sk], (float)B[(long)k * b_sk + (long)(n0 + j) * b_sn], s);
                STORE(m0 + i, n0 + j, s);
            }
        }
    }
}

__kernel void gemm_nt(GEMM_ARGS) {
    // a_sk == 1 and b_sk == 1: rows of A and of B^T are contiguous along K
    const int n0 = get_global_id(0) * 4;
    const int m0 = get_global_id(1) * 2;
    if (n0 >= N || m0 >= M) return;
    BATCH_SETUP
    __global const T* a0 = A + (long)m0 * a_sm;
    __global const T* a1 = A + (long)min(m0 + 1, M - 1) * a_sm;
    __global const T* bq[4];
    for (int j = 0; j < 4; ++j) bq[j] = B + (long)min(n0 + j, N - 1) * b_sn;
    float8 acc0[4], acc1[4];
    for (int j = 0; j < 4; ++j) { acc0[j] = (float8)(0.0f); acc1[j] = (float8)(0.0f); }
    const int K8 = K & ~7;
    for (int k = 0; k < K8; k += 8) {
        const float8 x0 = LOAD8(a0 + k), x1 = LOAD8(a1 + k);
        for (int j = 0; j < 4; ++j) {
            const float8 b = LOAD8(bq[j] + k);
            acc0[j] = mad(x0, b, acc0[j]);
            acc1[j] = mad(x1, b, acc1[j]);
        }
    }
    float s0[4], s1[4];
    for (int j = 0; j < 4; ++j) {
        float8 u = acc0[j], v = acc1[j];
        s0[j] = u.s0 + u.s1 + u.s2 + u.s3 + u.s4 + u.s5 + u.s6 + u.s7;
        s1[j] = v.s0 + v.s1 + v.s2 + v.s3 + v.s4 + v.s5 + v.s6 + v.s7;
        for (int k = K8; k < K; ++k) {
            const float b = (float)bq[j][k];
            s0[j] = mad((float)a0[k], b, s0[j]);
            s1[j] = mad((float)a1[k], b, s1[j]);
        }
    }
    for (int j = 0; j < 4 && n0 + j < N; ++j) {
        STORE(m0, n0 + j, s0[j]);
        if (m0 + 1 < M) STORE(m0 + 1, n0 + j, s1[j]);
    }
}

// im2col of one image, all groups: cols (G, Cg*KH*KW, np) for output positions p0 .. p0+np
__kernel void im2col(const int total, __global const T* X, const int x_off, __global T* cols,
                     const int H, const int Wd, const int OW, const int KH, const int KW,
                     const int sh, const int sw, const int ph, const int pw, const int dh, const int dw,
                     const int p0, const int np) {
    const int i = get_global_id(0);
    if (i >= total) return;
    const int q = i % np;
    const int row = i / np;                 // (c over all groups, kh, kw)
    const int KK = KH * KW;
    const int c = row / KK, r = row - c * KK;
    const int kh = r / KW, kw = r - kh * KW;
    const int p = p0 + q;
    const int oh = p / OW, ow = p - oh * OW;
    const int ih = oh * sh - ph + kh * dh, iw = ow * sw - pw + kw * dw;
    cols[i] = (ih >= 0 && ih < H && iw >= 0 && iw < Wd) ? X[x_off + ((long)c * H + ih) * Wd + iw] : (T)0;
}

