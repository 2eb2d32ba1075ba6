// Cast between dtypes. Built with -DSRC=<type> -DDST=<type> and, for the special cases,
// -DSRC_HALF / -DDST_HALF (float16 through vload_half / vstore_half, which need no cl_khr_fp16)
// and -DDST_BOOL (nonzero -> 1).

#ifdef USE_DOUBLE
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
#endif

__kernel void cast(const int n, __global const SRC* X, __global DST* Y) {
    const int i = get_global_id(0);
    if (i >= n) return;
#ifdef SRC_HALF
    const float v = vload_half(i, (__global const half*)X);
#else
    const SRC v = X[i];
#endif
#if defined(DST_HALF)
    vstore_half_rte((float)v, i, (__global half*)Y);
#elif defined(DST_BOOL)
    Y[i] = (DST)(v != 0);
#else
    Y[i] = (DST)v;
#endif
}
