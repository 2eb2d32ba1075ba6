/* Python entry points (METH_FASTCALL) of the kernels whose ctypes call costs more than their work.
 *
 * A ctypes call converts each argument in Python code (argtypes' from_param; the caller's
 * `a.ctypes.data` lookups): about 10 µs more than this path when a node runs right after a kernel
 * that streamed megabytes through the caches and evicted the interpreter's state (tashkeel_bilstm's
 * attention Softmax of [1, 128, 128] after its 32 MiB DynamicQuantizeMatMul, whose own work is 7 µs).
 * These functions take the arrays through the buffer protocol and the sizes as ints, check both (a
 * wrong size is a ValueError, never a read past a buffer), and call the same C kernel with the GIL
 * released, as ctypes does. module.c lists them in the extension's method table; library.py's ctypes
 * binding stays the way to every other kernel. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "ep_native.h"

/* a C-contiguous float32 view of `obj` holding exactly `count` values, or with `at_least` `count` values or
 * more (a packed operand the kernel reads a prefix of); writable when asked */
static int float_view_of(PyObject *obj, Py_buffer *view, int writable, int64_t count, int at_least,
                         const char *what) {
    if (PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0)) < 0)
        return -1;
    const Py_ssize_t want = (Py_ssize_t)count * 4;
    if (view->itemsize != 4 || view->format == NULL || strcmp(view->format, "f") != 0 ||
        (at_least ? view->len < want : view->len != want)) {
        PyErr_Format(PyExc_ValueError, "%s must be a C-contiguous float32 buffer of %s%lld values", what,
                     at_least ? "at least " : "", (long long)count);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

static int float_view(PyObject *obj, Py_buffer *view, int writable, int64_t count, const char *what) {
    return float_view_of(obj, view, writable, count, 0, what);
}

/* whether the bytes of two buffers overlap */
static int overlap(const Py_buffer *a, const Py_buffer *b) {
    const char *pa = (const char *)a->buf, *pb = (const char *)b->buf;
    return a->len > 0 && b->len > 0 && pa < pb + b->len && pb < pa + a->len;
}

/* the product of n factors (each >= 0) into *out; 0 when it is too large for a buffer (9e15, as
 * ep_sizes_fit) */
static int product_fits(const int64_t *f, int n, int64_t *out) {
    double p = 1.0;
    int64_t q = 1;
    for (int i = 0; i < n; i++) {
        if (f[i] < 0) return 0;
        p *= (double)f[i];
        if (p >= 9.0e15) return 0;
        q *= f[i];
    }
    *out = q;
    return 1;
}

static void release_all(Py_buffer *views, int n) {
    for (int i = n - 1; i >= 0; i--) PyBuffer_Release(&views[i]);
}

/* b[0] = a view of x (nx float32 values), b[1] = a writable view of y (ny values) not overlapping it; a Python
 * error naming `op` set, no view held, and -1 otherwise */
static int in_out_views(PyObject *x, PyObject *y, Py_buffer b[2], int64_t nx, int64_t ny, const char *op) {
    char what[64];
    PyOS_snprintf(what, sizeof what, "%s: x", op);
    if (float_view(x, &b[0], 0, nx, what) < 0) return -1;
    PyOS_snprintf(what, sizeof what, "%s: y", op);
    if (float_view(y, &b[1], 1, ny, what) < 0) {
        release_all(b, 1);
        return -1;
    }
    if (overlap(&b[0], &b[1])) {
        release_all(b, 2);
        PyErr_Format(PyExc_ValueError, "%s: x and y overlap", op);
        return -1;
    }
    return 0;
}

/* args[0..n) as int64 (a Python error set and -1 when one is not an int in range) */
static int int64_args(PyObject *const *args, Py_ssize_t n, int64_t *out) {
    for (Py_ssize_t k = 0; k < n; k++) {
        const long long v = PyLong_AsLongLong(args[k]);
        if (v == -1 && PyErr_Occurred()) return -1;
        out[k] = (int64_t)v;
    }
    return 0;
}

/* softmax_f32(x, y, outer, n, inner, log_softmax, threads) -> ep_softmax_f32's return code:
 * y = softmax (log_softmax: log softmax) of x, [outer, n, inner] along n, y a distinct buffer */
PyObject *ep_py_softmax_f32(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    int64_t v[5]; /* outer, n, inner, log_softmax, threads */
    if (nargs != 7) {
        PyErr_Format(PyExc_TypeError, "softmax_f32 takes 7 arguments (%zd given)", nargs);
        return NULL;
    }
    if (int64_args(args + 2, 5, v) < 0) return NULL;
    if (!ep_sizes_fit(v[0], v[1], v[2])) {
        PyErr_SetString(PyExc_ValueError, "softmax_f32: outer, n and inner must be positive and fit in memory");
        return NULL;
    }
    const int64_t count = v[0] * v[1] * v[2];
    Py_buffer b[2]; /* x, y */
    if (in_out_views(args[0], args[1], b, count, count, "softmax_f32") < 0) return NULL;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = ep_softmax_f32((const float *)b[0].buf, (float *)b[1].buf, v[0], v[1], v[2], v[3] != 0, v[4]);
    Py_END_ALLOW_THREADS
    release_all(b, 2);
    return PyLong_FromLong(rc);
}

/* global_pool_f32(x, y, planes, size, mode, threads) -> ep_global_pool_f32's return code: y[p] = the max
 * (mode EP_POOL_MAX) or mean (EP_POOL_AVG) of plane p of x (planes x size values) */
PyObject *ep_py_global_pool_f32(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    int64_t v[4]; /* planes, size, mode, threads */
    if (nargs != 6) {
        PyErr_Format(PyExc_TypeError, "global_pool_f32 takes 6 arguments (%zd given)", nargs);
        return NULL;
    }
    if (int64_args(args + 2, 4, v) < 0) return NULL;
    if (!ep_sizes_fit(v[0], v[1], 1)) {
        PyErr_SetString(PyExc_ValueError, "global_pool_f32: planes and size must be positive and fit in memory");
        return NULL;
    }
    if (v[2] != EP_POOL_MAX && v[2] != EP_POOL_AVG) {
        PyErr_Format(PyExc_ValueError, "global_pool_f32: unknown mode %lld", (long long)v[2]);
        return NULL;
    }
    Py_buffer b[2]; /* x, y */
    if (in_out_views(args[0], args[1], b, v[0] * v[1], v[0], "global_pool_f32") < 0) return NULL;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = ep_global_pool_f32((const float *)b[0].buf, (float *)b[1].buf, v[0], v[1], (int)v[2], v[3]);
    Py_END_ALLOW_THREADS
    release_all(b, 2);
    return PyLong_FromLong(rc);
}

/* values of ep_pool3d_f32's geometry: d h w, kd kh kw, sd sh sw, dd dh dw, the start pads, the end pads,
 * od ho wo */
#define POOL_GEO 21

/* pool3d_f32(x, y, planes, geo, mode, threads) -> ep_pool3d_f32's return code (0, or -1 when its buffers
 * do not fit in memory): y (planes, od, ho, wo) pooled from x (planes, d, h, w), geo an int64 buffer of
 * the 21 values ep_pool3d_f32 reads. x and y must hold exactly the values the geometry implies. */
PyObject *ep_py_pool3d_f32(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    int64_t v[3]; /* planes, mode, threads */
    if (nargs != 6) {
        PyErr_Format(PyExc_TypeError, "pool3d_f32 takes 6 arguments (%zd given)", nargs);
        return NULL;
    }
    if (int64_args(args + 2, 1, v) < 0 || int64_args(args + 4, 2, v + 1) < 0) return NULL;
    if (v[1] != EP_POOL_MAX && v[1] != EP_POOL_AVG && v[1] != EP_POOL_AVG_INCLUDE_PAD) {
        PyErr_Format(PyExc_ValueError, "pool3d_f32: unknown mode %lld", (long long)v[1]);
        return NULL;
    }
    Py_buffer gv;
    if (PyObject_GetBuffer(args[3], &gv, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) return NULL;
    const int int64_format = gv.format != NULL && (strcmp(gv.format, "l") == 0 || strcmp(gv.format, "q") == 0);
    if (gv.itemsize != 8 || !int64_format || gv.len != POOL_GEO * 8) {
        PyBuffer_Release(&gv);
        PyErr_Format(PyExc_ValueError, "pool3d_f32: geo must be a C-contiguous int64 buffer of %d values", POOL_GEO);
        return NULL;
    }
    int64_t geo[POOL_GEO];
    memcpy(geo, gv.buf, sizeof geo); /* the kernel reads this copy: the buffer cannot change under the checks */
    PyBuffer_Release(&gv);
    for (int i = 0; i < POOL_GEO; i++) {
        const int pad = i >= 12 && i < 18, out = i >= 18;
        if (geo[i] < (pad || out ? 0 : 1)) {
            PyErr_Format(PyExc_ValueError, "pool3d_f32: geo[%d] = %lld is out of range (%s)", i, (long long)geo[i],
                         pad ? "a pad must be >= 0" : out ? "an output extent must be >= 0" : "must be >= 1");
            return NULL;
        }
    }
    const int64_t in_dims[4] = {v[0], geo[0], geo[1], geo[2]}, out_dims[4] = {v[0], geo[18], geo[19], geo[20]};
    int64_t in_count, out_count;
    if (v[0] < 1 || !product_fits(in_dims, 4, &in_count) || !product_fits(out_dims, 4, &out_count)) {
        PyErr_SetString(PyExc_ValueError, "pool3d_f32: planes must be positive and the tensors fit in memory");
        return NULL;
    }
    Py_buffer b[2]; /* x, y */
    if (in_out_views(args[0], args[1], b, in_count, out_count, "pool3d_f32") < 0) return NULL;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = ep_pool3d_f32((const float *)b[0].buf, (float *)b[1].buf, v[0], geo, (int)v[1], v[2]);
    Py_END_ALLOW_THREADS
    release_all(b, 2);
    return PyLong_FromLong(rc);
}

/* sgemm_f32(a, bp, nr, bias, y, rows, n, k, threads) -> ep_sgemm_f32's return code (0, or -1 when out of
 * memory): y (rows x n) = a (rows x k) . B + bias (n values, or None), B (k x n) packed by
 * ep_sgemm_pack_b_rows_f32 in panels of nr columns (nr must be ep_sgemm_nr()). */
PyObject *ep_py_sgemm_f32(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    int64_t v[4], nr; /* rows, n, k, threads */
    if (nargs != 9) {
        PyErr_Format(PyExc_TypeError, "sgemm_f32 takes 9 arguments (%zd given)", nargs);
        return NULL;
    }
    if (int64_args(args + 2, 1, &nr) < 0 || int64_args(args + 5, 4, v) < 0) return NULL;
    const int64_t rows = v[0], n = v[1], k = v[2];
    if (!ep_sizes_fit(rows, n, 1) || !ep_sizes_fit(rows, k, 1) || nr != ep_sgemm_nr()) {
        PyErr_Format(PyExc_ValueError, "sgemm_f32: rows, n and k must be positive and fit in memory, nr %lld "
                     "the micro-kernel's panel width", (long long)ep_sgemm_nr());
        return NULL;
    }
    const int64_t panels = (n + nr - 1) / nr;
    if (!ep_sizes_fit(panels, nr, k)) {
        PyErr_SetString(PyExc_ValueError, "sgemm_f32: the packed B does not fit in memory");
        return NULL;
    }
    const int has_bias = args[3] != Py_None;
    Py_buffer b[4]; /* y, a, bp, bias */
    int held = 0;
    if (float_view(args[4], &b[held], 1, rows * n, "sgemm_f32: y") < 0) goto fail;
    held++;
    if (float_view(args[0], &b[held], 0, rows * k, "sgemm_f32: a") < 0) goto fail;
    held++;
    if (float_view_of(args[1], &b[held], 0, panels * nr * k, 1, "sgemm_f32: bp") < 0) goto fail;
    held++;
    if (has_bias) {
        if (float_view(args[3], &b[held], 0, n, "sgemm_f32: bias") < 0) goto fail;
        held++;
    }
    for (int i = 1; i < held; i++)
        if (overlap(&b[0], &b[i])) {
            PyErr_SetString(PyExc_ValueError, "sgemm_f32: y overlaps an operand");
            goto fail;
        }
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = ep_sgemm_f32((const float *)b[1].buf, (const float *)b[2].buf, nr, has_bias ? (const float *)b[3].buf : NULL,
                      (float *)b[0].buf, rows, n, k, v[3]);
    Py_END_ALLOW_THREADS
    release_all(b, held);
    return PyLong_FromLong(rc);
fail:
    release_all(b, held);
    return NULL;
}

/* align64_offset(buffer) -> the float32 values from the buffer's start to its first 64-byte boundary (0 to
 * 15): library code aligns an output array with it, without numpy's `.ctypes.data` (microseconds of Python
 * when the interpreter's state is out of cache) */
PyObject *ep_py_align64_offset(PyObject *self, PyObject *arg) {
    (void)self;
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) return NULL;
    const uintptr_t address = (uintptr_t)view.buf;
    PyBuffer_Release(&view);
    return PyLong_FromLong((long)(((64 - address % 64) % 64) / 4));
}

/* sgemm_nr() -> ep_sgemm_nr(): the panel width of the micro-kernel in use (sgemm_f32's nr), without a
 * ctypes call */
PyObject *ep_py_sgemm_nr(PyObject *self, PyObject *unused) {
    (void)self;
    (void)unused;
    return PyLong_FromLongLong((long long)ep_sgemm_nr());
}
