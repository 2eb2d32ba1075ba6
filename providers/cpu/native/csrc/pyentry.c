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

/* a C-contiguous float32 view of `obj` holding exactly `count` values (writable when asked) */
static int float_view(PyObject *obj, Py_buffer *view, int writable, int64_t count, const char *what) {
    if (PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0)) < 0)
        return -1;
    if (view->itemsize != 4 || view->format == NULL || strcmp(view->format, "f") != 0 ||
        view->len != (Py_ssize_t)count * 4) {
        PyErr_Format(PyExc_ValueError, "%s must be a C-contiguous float32 buffer of %lld values", what,
                     (long long)count);
        PyBuffer_Release(view);
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
    Py_buffer x, y;
    if (float_view(args[0], &x, 0, count, "softmax_f32: x") < 0) return NULL;
    if (float_view(args[1], &y, 1, count, "softmax_f32: y") < 0) {
        PyBuffer_Release(&x);
        return NULL;
    }
    const char *xb = (const char *)x.buf, *yb = (const char *)y.buf;
    if (xb < yb + y.len && yb < xb + x.len) {
        PyBuffer_Release(&y);
        PyBuffer_Release(&x);
        PyErr_SetString(PyExc_ValueError, "softmax_f32: x and y overlap");
        return NULL;
    }
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = ep_softmax_f32((const float *)x.buf, (float *)y.buf, v[0], v[1], v[2], v[3] != 0, v[4]);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&y);
    PyBuffer_Release(&x);
    return PyLong_FromLong(rc);
}
