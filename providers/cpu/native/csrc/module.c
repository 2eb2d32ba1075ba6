/* The Python extension shell of the native kernels, so that pip builds the C sources into a shared
 * library beside the package. The kernels are plain C functions that providers/cpu/native/library.py
 * calls through ctypes; the module's only functions are the direct entry points of pyentry.c, for the
 * few kernels whose ctypes call costs more than their work. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

PyObject *ep_py_softmax_f32(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *ep_py_global_pool_f32(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *ep_py_pool3d_f32(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *ep_py_sgemm_f32(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *ep_py_align64_offset(PyObject *self, PyObject *arg);
PyObject *ep_py_sgemm_nr(PyObject *self, PyObject *unused);

static PyMethodDef ep_native_methods[] = {
    {"softmax_f32", (PyCFunction)(void (*)(void))ep_py_softmax_f32, METH_FASTCALL,
     "softmax_f32(x, y, outer, n, inner, log_softmax, threads): ep_softmax_f32 on float32 buffers"},
    {"global_pool_f32", (PyCFunction)(void (*)(void))ep_py_global_pool_f32, METH_FASTCALL,
     "global_pool_f32(x, y, planes, size, mode, threads): ep_global_pool_f32 on float32 buffers"},
    {"pool3d_f32", (PyCFunction)(void (*)(void))ep_py_pool3d_f32, METH_FASTCALL,
     "pool3d_f32(x, y, planes, geo, mode, threads): ep_pool3d_f32 on float32 buffers, geo 21 int64 values"},
    {"sgemm_f32", (PyCFunction)(void (*)(void))ep_py_sgemm_f32, METH_FASTCALL,
     "sgemm_f32(a, bp, nr, bias_or_None, y, rows, n, k, threads): ep_sgemm_f32 on float32 buffers"},
    {"align64_offset", ep_py_align64_offset, METH_O,
     "align64_offset(buffer): float32 values from the buffer's start to its first 64-byte boundary"},
    {"sgemm_nr", ep_py_sgemm_nr, METH_NOARGS, "sgemm_nr(): the panel width sgemm_f32's packed B must have"},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef ep_native_module = {
    PyModuleDef_HEAD_INIT, "_ep_native",
    "Native float32 kernels of ep-runtime's CPU provider (called through ctypes, a few through this module's "
    "own functions).", -1, ep_native_methods,
    NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__ep_native(void) { return PyModule_Create(&ep_native_module); }
