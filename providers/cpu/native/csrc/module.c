/* The Python extension shell of the native kernels: an empty module, so that pip builds the C
 * sources into a shared library beside the package. The kernels are plain C functions that
 * providers/cpu/native/library.py calls through ctypes; nothing here uses them. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static struct PyModuleDef ep_native_module = {
    PyModuleDef_HEAD_INIT, "_ep_native",
    "Native float32 kernels of ep-runtime's CPU provider (called through ctypes).", -1, NULL,
    NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__ep_native(void) { return PyModule_Create(&ep_native_module); }
