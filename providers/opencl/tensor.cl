// Data movement: strided copies (Transpose, Slice, Expand, Concat, Split), Gather, Pad, Tile,
// and the per-axis Resize steps.
//
// Built with -DT=<unsigned type of the element size> (uchar, ushort, uint, ulong): moving data
// does not care what the bits mean, so one build serves every dtype of that size. Resize's
// linear step is built with -DT=float (or half) and -DFLOAT_OPS=1. Shapes and strides (in
// elements) come as int8 vectors, collapsed by the Python side to at most 8 dims.

#ifdef USE_HALF
#pragma OPENCL EXTENSION cl_khr_fp16 : enable
#endif

#ifndef IDX
#define IDX long
#endif

// Y[doff + sum c_k * ds_k] = X[soff + sum c_k * ss_k] for every index c of `shape`, on a 3-D
// grid: dim 0 the innermost axis, dim 1 the next, dim 2 the leading axes flattened
__kernel void strided_copy(const int D0, const int D1, const int D2, const int rank, const int8 shape,
                           const int8 sstride, const int ss0, const int ss1, const int ss2, const int soff,
                           const int8 dstride, const int ds0, const int ds1, const int ds2, const int doff,
                           __global const T* X, __global T* Y) {
    const int i0 = get_global_id(0), i1 = get_global_id(1), i2 = get_global_id(2);
    if (i0 >= D0 || i1 >= D1 || i2 >= D2) return;
    int os = soff + i0 * ss0 + i1 * ss1;
    int od = doff + i0 * ds0 + i1 * ds1;
    if (rank <= 3) {
        os += i2 * ss2;
        od += i2 * ds2;
    } else {
        int d[8], ss[8], ds[8];
        vstore8(shape, 0, d); vstore8(sstride, 0, ss); vstore8(dstride, 0, ds);
        int r = i2;
        for (int k = rank - 3; k > 0; --k) {
            const int c = r % d[k]; r /= d[k];
            os += c * ss[k]; od += c * ds[k];
        }
        os += r * ss[0]; od += r * ds[0];
    }
    Y[od] = X[os];
}

// Y (outer, nidx, inner) = X (outer, axis_dim, inner) gathered along the middle axis.
// An index outside [-axis_dim, axis_dim) is an error in ONNX: it sets *bad (the host raises) and
// its elements of Y are left unwritten.
__kernel void gather(const int n, const int nidx, const int inner, const int axis_dim,
                     __global const T* X, __global const IDX* I, __global T* Y, __global int* bad) {
    const int i = get_global_id(0);
    if (i >= n) return;
    const int r = i % inner;
    const int j = (i / inner) % nidx;
    const int o = i / (inner * nidx);
    long q = (long)I[j];
    if (q < 0) q += axis_dim;
    if (q < 0 || q >= axis_dim) {
        *bad = 1;
        return;
    }
    Y[i] = X[((long)o * axis_dim + q) * inner + r];
}

// mode: 0 constant, 1 reflect, 2 edge, 3 wrap. `begin` may be negative (cropping).
__kernel void pad(const int n, const int rank, const int8 out_shape, const int8 in_shape, const int8 begin,
                  const int mode, const T value, __global const T* X, __global T* Y) {
    const int i = get_global_id(0);
    if (i >= n) return;
    int od[8], id[8], b[8];
    vstore8(out_shape, 0, od); vstore8(in_shape, 0, id); vstore8(begin, 0, b);
    int r = i, src = 0, stride = 1;
    bool inside = true;
    for (int k = rank - 1; k >= 0; --k) {
        const int c = r % od[k]; r /= od[k];
        int s = c - b[k];
        const int m = id[k];
        if (s < 0 || s >= m) {
            if (mode == 0) {
                inside = false;
            } else if (mode == 1) {
                if (m == 1) s = 0;
                else {
                    const int period = 2 * (m - 1);
                    s = s % period; if (s < 0) s += period;
                    if (s >= m) s = period - s;
                }
            } else if (mode == 2) {
                s = clamp(s, 0, m - 1);
            } else {
                s = s % m; if (s < 0) s += m;
            }
        }
        src += s * stride;
        stride *= m;
    }
    Y[i] = inside ? X[src] : value;
}

__kernel void tile(const int n, const int rank, const int8 out_shape, const int8 in_shape,
                   __global const T* X, __global T* Y) {
    const int i = get_global_id(0);
    if (i >= n) return;
    int od[8], id[8];
    vstore8(out_shape, 0, od); vstore8(in_shape, 0, id);
    int r = i, src = 0, stride = 1;
    for (int k = rank - 1; k >= 0; --k) {
        const int c = r % od[k]; r /= od[k];
        src += (c % id[k]) * stride;
        stride *= id[k];
    }
    Y[i] = X[src];
}

// Resize along one axis: Y (outer, out_d, inner) from X (outer, in_d, inner)
__kernel void resize_nearest_axis(const int n, const int out_d, const int inner, const int in_d,
                                  __global const int* idx, __global const T* X, __global T* Y) {
    const int i = get_global_id(0);
    if (i >= n) return;
    const int r = i % inner;
    const int j = (i / inner) % out_d;
    const int o = i / (inner * out_d);
    Y[i] = X[((long)o * in_d + idx[j]) * inner + r];
}

#ifdef FLOAT_OPS
__kernel void resize_linear_axis(const int n, const int out_d, const int inner, const int in_d,
                                 __global const int* i0, __global const int* i1, __global const float* w,
                                 __global const T* X, __global T* Y) {
    const int i = get_global_id(0);
    if (i >= n) return;
    const int r = i % inner;
    const int j = (i / inner) % out_d;
    const int o = i / (inner * out_d);
    const long base = (long)o * in_d;
    const float a = (float)X[(base + i0[j]) * inner + r];
    const float b = (float)X[(base + i1[j]) * inner + r];
    Y[i] = (T)(a + (b - a) * w[j]);
}
#endif

__kernel void fill(const int n, const T value, __global T* Y) {
    const int i = get_global_id(0);
    if (i < n) Y[i] = value;
}
