/* The Python extension shell of the native kernels, so that pip builds the C sources into a shared
 * library beside the package. The kernels are plain C functions that providers/cpu/native/library.py
 * calls through ctypes; the module's only functions are the direct entry points of pyentry.c, for the
 * few kernels whose ctypes call costs more than their work. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

PyObject *ep_py_softmax_f32(PyObject *self, PyObject *const *args, Py_ssize_t nargs);

static PyMethodDef ep_native_methods[] = {
    {"softmax_f32", (PyCFunction)(void (*)(void))ep_py_softmax_f32, METH_FASTCALL,
     "softmax_f32(x, y, outer, n, inner, log_softmax, threads): ep_softmax_f32 on float32 buffers"},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef ep_native_module = {
    PyModuleDef_HEAD_INIT, "_ep_native",
    "Native float32 kernels of ep-runtime's CPU provider (called through ctypes).", -1, ep_native_methods,
    NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__ep_native(void) { return PyModule_Create(&ep_native_module); }
