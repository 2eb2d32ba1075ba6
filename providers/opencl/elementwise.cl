// Elementwise kernels: unary ops, binary ops with numpy broadcasting, Where, variadic helpers.
//
// Built with -DT=<storage type> (float, or half with cl_khr_fp16); arithmetic is in float.
// Broadcasting: the Python side collapses the output shape and each input's element strides
// (0 along broadcast axes) to at most 8 dims, passed as int8 vectors; `_same` variants are the
// fast path for inputs of the output's own shape.

#ifdef USE_HALF
#pragma OPENCL EXTENSION cl_khr_fp16 : enable
#endif

typedef float F;

// max/min that return NaN when either operand is NaN, as numpy's maximum/minimum and onnxruntime do
// (OpenCL's fmax/fmin return the other operand instead)
inline F nan_max(const F a, const F b) { return (a > b || isnan(a)) ? a : b; }
inline F nan_min(const F a, const F b) { return (a < b || isnan(a)) ? a : b; }

// ---------------------------------------------------------------- unary: y = f(x, p0, p1)

#define UNARY(name, expr)                                                                    \
__kernel void name(const int n, __global const T* X, __global T* Y, const F p0, const F p1) { \
    const int i = get_global_id(0);                                                          \
    if (i >= n) return;                                                                      \
    const F x = (F)X[i];                                                                     \
    Y[i] = (T)(expr);                                                                        \
}

UNARY(relu, x < 0.0f ? 0.0f : x)
UNARY(leaky_relu, x < 0.0f ? x * p0 : x)
UNARY(sigmoid, 1.0f / (1.0f + exp(-x)))
UNARY(tanh_, tanh(x))
UNARY(exp_, exp(x))
UNARY(log_, log(x))
UNARY(sqrt_, sqrt(x))
UNARY(abs_, fabs(x))
UNARY(neg, -x)
UNARY(erf_, erf(x))
UNARY(reciprocal, 1.0f / x)
UNARY(floor_, floor(x))
UNARY(ceil_, ceil(x))
UNARY(sin_, sin(x))
UNARY(cos_, cos(x))
UNARY(sign_, x > 0.0f ? 1.0f : (x < 0.0f ? -1.0f : x))
UNARY(softsign, x / (1.0f + fabs(x)))
UNARY(softplus, x > 20.0f ? x : log1p(exp(x)))
UNARY(elu, x < 0.0f ? p0 * (exp(x) - 1.0f) : x)
UNARY(selu, x <= 0.0f ? p1 * (p0 * exp(x) - p0) : p1 * x)
UNARY(celu, nan_max(0.0f, x) + nan_min(0.0f, p0 * expm1(nan_min(x, 0.0f) / p0)))
UNARY(thresholded_relu, x > p0 ? x : 0.0f)
UNARY(hard_sigmoid, nan_min(nan_max(p0 * x + p1, 0.0f), 1.0f))
UNARY(hard_swish, x * nan_min(nan_max(x / 6.0f + 0.5f, 0.0f), 1.0f))
UNARY(gelu, 0.5f * x * (1.0f + erf(x * 0.70710678118654752f)))
// 0.5 x (1 + tanh(u)) written as x * sigmoid(2u): no cancellation in 1 + tanh(u) for u << 0, where a
// tanh a few ulp above -1 (PoCL's tanh(-inf) is -0.99999994) would leave x * 3e-8 instead of -0 (or NaN at -inf)
UNARY(gelu_tanh, x / (1.0f + exp(-1.5957691216057308f * (x + 0.044715f * x * x * x))))
UNARY(clip, isnan(x) ? x : (x < p0 ? p0 : (x > p1 ? p1 : x)))
UNARY(scale_shift, x * p0 + p1)
UNARY(identity, x)

// Clip-11+: the bounds are optional one-element device tensors.
__kernel void clip_t(const int n, __global const T* X, __global T* Y, __global const T* lo,
                     __global const T* hi, const int has_lo, const int has_hi) {
    const int i = get_global_id(0);
    if (i >= n) return;
    F x = (F)X[i];
    if (!isnan(x)) {
        if (has_lo && x < (F)lo[0]) x = (F)lo[0];
        if (has_hi && x > (F)hi[0]) x = (F)hi[0];
    }
    Y[i] = (T)x;
}

// ---------------------------------------------------------------- broadcasting index helpers

// Broadcast kernels run on a 3-D grid: dim 0 is the innermost collapsed axis, dim 1 the next,
// dim 2 all leading axes flattened (decomposed with `lead` = shape[0 .. rank-3], so divisions
// happen only for rank >= 4). Strides s*[k] are per collapsed axis, innermost last.
#define GRID_SETUP                                                                    \
    const int i0 = get_global_id(0), i1 = get_global_id(1), i2 = get_global_id(2);    \
    if (i0 >= D0 || i1 >= D1 || i2 >= D2) return;                                    \
    const int i = (i2 * D1 + i1) * D0 + i0;

// offset of the current element in an input with strides `st` (int8: leading axes then the two
// innermost at positions rank-2, rank-1; the three innermost also as scalars st0 (innermost), st1, st2)
#define OFFSET(st, st0, st1, st2, off)                                                \
    off = i0 * st0 + i1 * st1;                                                        \
    if (rank <= 3) {                                                                  \
        off += i2 * st2;                                                              \
    } else {                                                                          \
        int s_[8], d_[8];                                                             \
        vstore8(st, 0, s_); vstore8(shape, 0, d_);                                    \
        int r_ = i2;                                                                  \
        for (int k = rank - 3; k > 0; --k) {                                          \
            const int c_ = r_ % d_[k]; r_ /= d_[k]; off += c_ * s_[k];                \
        }                                                                             \
        off += r_ * s_[0];                                                            \
    }

#define BCAST_ARGS const int D0, const int D1, const int D2, const int rank, const int8 shape

// ---------------------------------------------------------------- binary: y = f(a, b)

// One operand per row (per channel, or a scalar with C == 1), the other of the output's shape:
// a 2-D grid (inner, rows), the small operand indexed by row % C (B small: _rows_b, A small: _rows_a).
#define ROWS(name, OUT, expr, suffix, ia, ib)                                                \
__kernel void name##suffix(const int inner, const int rows, const int C, __global const T* A, \
                           __global const T* B, __global OUT* Y) {                           \
    const int i0 = get_global_id(0), r = get_global_id(1);                                   \
    if (i0 >= inner || r >= rows) return;                                                    \
    const int i = r * inner + i0;                                                            \
    const int c = r % C;                                                                     \
    const F a = (F)A[ia]; const F b = (F)B[ib];                                              \
    Y[i] = (OUT)(expr);                                                                      \
}

#define BINARY(name, OUT, expr)                                                               \
__kernel void name##_same(const int n, __global const T* A, __global const T* B, __global OUT* Y) { \
    const int i = get_global_id(0);                                                           \
    if (i >= n) return;                                                                       \
    const F a = (F)A[i]; const F b = (F)B[i];                                                 \
    Y[i] = (OUT)(expr);                                                                       \
}                                                                                             \
__kernel void name##_bcast(BCAST_ARGS, const int8 sa, const int sa0, const int sa1, const int sa2,  \
                           const int8 sb, const int sb0, const int sb1, const int sb2,        \
                           __global const T* A, __global const T* B, __global OUT* Y) {       \
    GRID_SETUP                                                                                \
    int oa, ob;                                                                               \
    OFFSET(sa, sa0, sa1, sa2, oa)                                                             \
    OFFSET(sb, sb0, sb1, sb2, ob)                                                             \
    const F a = (F)A[oa]; const F b = (F)B[ob];                                               \
    Y[i] = (OUT)(expr);                                                                       \
}                                                                                             \
ROWS(name, OUT, expr, _rows_b, i, c)                                                          \
ROWS(name, OUT, expr, _rows_a, c, i)

BINARY(add, T, a + b)
BINARY(sub, T, a - b)
BINARY(mul, T, a * b)
BINARY(div_, T, a / b)
BINARY(pow_, T, pow(a, b))
BINARY(max_, T, nan_max(a, b))
BINARY(min_, T, nan_min(a, b))
BINARY(prelu, T, a < 0.0f ? a * b : a)
BINARY(mean2, T, (a + b) * 0.5f)
BINARY(equal, uchar, a == b)
BINARY(less, uchar, a < b)
BINARY(greater, uchar, a > b)
BINARY(less_equal, uchar, a <= b)
BINARY(greater_equal, uchar, a >= b)

// ---------------------------------------------------------------- Where(cond, x, y)

__kernel void where_bcast(BCAST_ARGS, const int8 sc, const int sc0, const int sc1, const int sc2, const int8 sx,
                          const int sx0, const int sx1, const int sx2, const int8 sy, const int sy0, const int sy1,
                          const int sy2, __global const uchar* C, __global const T* X, __global const T* Yv,
                          __global T* Out) {
    GRID_SETUP
    int oc, ox, oy;
    OFFSET(sc, sc0, sc1, sc2, oc)
    OFFSET(sx, sx0, sx1, sx2, ox)
    OFFSET(sy, sy0, sy1, sy2, oy)
    Out[i] = C[oc] ? X[ox] : Yv[oy];
}
