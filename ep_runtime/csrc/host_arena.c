/* The host memory arena of a session's runs: a numpy memory handler (NEP 49) that keeps the blocks of large
 * freed arrays and gives them to later allocations of about the same size, as onnxruntime's CPU arena does.
 *
 * Why: glibc's malloc maps every block above 32 MiB fresh from the kernel and unmaps it on free (below that
 * it mostly reuses its heap), so a model with such an intermediate (tashkeel's [1, 128, 128, 512] attention
 * sum, 32 MiB) page-faults its 8192 pages, or zeroes 16 huge pages, on every run: 2 ms of a 3 ms addition,
 * and the passes after it over new pages run 30% slower. With the arena the second run reuses the block.
 *
 * ep_runtime/host_arena.py installs the handler around a run (numpy keeps the current handler in a context
 * variable, so other threads and the caller's own arrays keep theirs) and each array remembers the handler
 * that made it, so a block made in a run comes back here whenever it is freed. numpy's C API is reached as
 * its import_array() does (the _ARRAY_API capsule; PyDataMem_SetHandler is slot 304 since numpy 1.22, a
 * stable index), so the build needs no numpy headers.
 *
 * Every block carries a 16-byte header holding its capacity (so realloc and free know it). Blocks of at
 * least EP_ARENA_MIN bytes are cached on free, at most EP_ARENA_SLOTS of them and EP_ARENA_MAX_BYTES in all
 * (the oldest go back to the system first); an allocation takes the smallest cached block that holds it
 * without wasting more than a quarter. Smaller blocks go straight to malloc and free. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pythread.h>
#include <stdint.h>
#include <string.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif

#define EP_ARENA_HEADER 16
#define EP_ARENA_MIN ((size_t)4 << 20)
#define EP_ARENA_SLOTS 16
#define EP_ARENA_MAX_BYTES ((size_t)1 << 30)

/* numpy's handler types, as numpy/ndarraytypes.h declares them (version 1) */
typedef struct {
    void *ctx;
    void *(*malloc)(void *ctx, size_t size);
    void *(*calloc)(void *ctx, size_t nelem, size_t elsize);
    void *(*realloc)(void *ctx, void *ptr, size_t new_size);
    void (*free)(void *ctx, void *ptr, size_t size);
} np_allocator;

typedef struct {
    char name[127];
    uint8_t version;
    np_allocator allocator;
} np_handler;

typedef PyObject *(*set_handler_fn)(PyObject *);
#define NP_SET_HANDLER_SLOT 304

static struct {
    PyThread_type_lock lock;
    void *block[EP_ARENA_SLOTS]; /* cached blocks (their headers), oldest first */
    size_t cap[EP_ARENA_SLOTS];
    int count;
    size_t bytes;
    long long hits, misses;
} arena;

static set_handler_fn set_handler;
static PyObject *handler_capsule;

static size_t header_cap(void *user) {
    size_t cap;
    memcpy(&cap, (char *)user - EP_ARENA_HEADER, sizeof cap);
    return cap;
}

static void *with_header(void *block, size_t cap) {
    if (!block) return NULL;
    memcpy(block, &cap, sizeof cap);
    return (char *)block + EP_ARENA_HEADER;
}

/* a fresh block of `size` usable bytes (zeroed when asked), large ones marked for huge pages as numpy's own
 * allocator marks them */
static void *fresh(size_t size, int zeroed) {
    if (size > SIZE_MAX - EP_ARENA_HEADER) return NULL;
    void *block = zeroed ? calloc(1, size + EP_ARENA_HEADER) : malloc(size + EP_ARENA_HEADER);
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (block && size >= EP_ARENA_MIN) {
        const uintptr_t start = ((uintptr_t)block + 4095u) & ~(uintptr_t)4095u;
        const uintptr_t end = ((uintptr_t)block + size + EP_ARENA_HEADER) & ~(uintptr_t)4095u;
        if (end > start) madvise((void *)start, end - start, MADV_HUGEPAGE);
    }
#endif
    return with_header(block, size);
}

/* the cached block that best holds `size` bytes, taken out of the cache; NULL when none does */
static void *take(size_t size) {
    void *user = NULL;
    PyThread_acquire_lock(arena.lock, WAIT_LOCK);
    int best = -1;
    for (int i = 0; i < arena.count; i++)
        if (arena.cap[i] >= size && arena.cap[i] - size <= size / 4 && (best < 0 || arena.cap[i] < arena.cap[best]))
            best = i;
    if (best >= 0) {
        user = (char *)arena.block[best] + EP_ARENA_HEADER;
        arena.bytes -= arena.cap[best];
        memmove(arena.block + best, arena.block + best + 1, (size_t)(arena.count - best - 1) * sizeof(void *));
        memmove(arena.cap + best, arena.cap + best + 1, (size_t)(arena.count - best - 1) * sizeof(size_t));
        arena.count--;
        arena.hits++;
    } else {
        arena.misses++;
    }
    PyThread_release_lock(arena.lock);
    return user;
}

/* keep a freed block (its header) for later, sending the oldest back to the system beyond the limits */
static void keep(void *block, size_t cap) {
    void *evicted[EP_ARENA_SLOTS + 1];
    int n = 0;
    PyThread_acquire_lock(arena.lock, WAIT_LOCK);
    if (cap > EP_ARENA_MAX_BYTES) {
        evicted[n++] = block;
    } else {
        while (arena.count > 0 && (arena.count == EP_ARENA_SLOTS || arena.bytes + cap > EP_ARENA_MAX_BYTES)) {
            evicted[n++] = arena.block[0];
            arena.bytes -= arena.cap[0];
            memmove(arena.block, arena.block + 1, (size_t)(arena.count - 1) * sizeof(void *));
            memmove(arena.cap, arena.cap + 1, (size_t)(arena.count - 1) * sizeof(size_t));
            arena.count--;
        }
        arena.block[arena.count] = block;
        arena.cap[arena.count] = cap;
        arena.count++;
        arena.bytes += cap;
    }
    PyThread_release_lock(arena.lock);
    for (int i = 0; i < n; i++) free(evicted[i]);
}

static void *arena_malloc(void *ctx, size_t size) {
    (void)ctx;
    if (size >= EP_ARENA_MIN) {
        void *user = take(size);
        if (user) return user;
    }
    return fresh(size, 0);
}

static void *arena_calloc(void *ctx, size_t nelem, size_t elsize) {
    (void)ctx;
    if (elsize && nelem > SIZE_MAX / elsize) return NULL;
    const size_t size = nelem * elsize;
    if (size >= EP_ARENA_MIN) {
        void *user = take(size);
        if (user) return memset(user, 0, size);
    }
    return fresh(size, 1);
}

static void arena_free(void *ctx, void *ptr, size_t size) {
    (void)ctx;
    (void)size;
    if (!ptr) return;
    const size_t cap = header_cap(ptr);
    void *block = (char *)ptr - EP_ARENA_HEADER;
    if (cap >= EP_ARENA_MIN)
        keep(block, cap);
    else
        free(block);
}

static void *arena_realloc(void *ctx, void *ptr, size_t new_size) {
    if (!ptr) return arena_malloc(ctx, new_size);
    const size_t cap = header_cap(ptr);
    if (new_size <= cap && (cap < EP_ARENA_MIN || new_size >= cap / 2)) return ptr;
    void *user = arena_malloc(ctx, new_size);
    if (!user) return NULL;
    memcpy(user, ptr, cap < new_size ? cap : new_size);
    arena_free(ctx, ptr, cap);
    return user;
}

static np_handler handler = {"ep_runtime_host_arena", 1,
                             {NULL, arena_malloc, arena_calloc, arena_realloc, arena_free}};

/* enter() -> the handler it replaced: the arena is numpy's handler in this context from now on */
static PyObject *py_enter(PyObject *self, PyObject *unused) {
    (void)self;
    (void)unused;
    return set_handler(handler_capsule);
}

/* leave(previous): give the context back the handler enter() returned */
static PyObject *py_leave(PyObject *self, PyObject *previous) {
    (void)self;
    PyObject *ours = set_handler(previous == Py_None ? NULL : previous);
    if (!ours) return NULL;
    Py_DECREF(ours);
    Py_RETURN_NONE;
}

/* trim(): send every cached block back to the system */
static PyObject *py_trim(PyObject *self, PyObject *unused) {
    (void)self;
    (void)unused;
    void *blocks[EP_ARENA_SLOTS];
    int n;
    PyThread_acquire_lock(arena.lock, WAIT_LOCK);
    n = arena.count;
    memcpy(blocks, arena.block, (size_t)n * sizeof(void *));
    arena.count = 0;
    arena.bytes = 0;
    PyThread_release_lock(arena.lock);
    for (int i = 0; i < n; i++) free(blocks[i]);
    Py_RETURN_NONE;
}

/* stats() -> (cached blocks, cached bytes, hits, misses) */
static PyObject *py_stats(PyObject *self, PyObject *unused) {
    (void)self;
    (void)unused;
    PyThread_acquire_lock(arena.lock, WAIT_LOCK);
    PyObject *r = Py_BuildValue("(inLL)", arena.count, (Py_ssize_t)arena.bytes, arena.hits, arena.misses);
    PyThread_release_lock(arena.lock);
    return r;
}

static PyMethodDef methods[] = {
    {"enter", py_enter, METH_NOARGS, "enter() -> previous handler: make the arena numpy's handler in this context"},
    {"leave", py_leave, METH_O, "leave(previous): restore the handler enter() returned"},
    {"trim", py_trim, METH_NOARGS, "trim(): free every cached block"},
    {"stats", py_stats, METH_NOARGS, "stats() -> (cached blocks, cached bytes, hits, misses)"},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_host_arena",
                                    "numpy memory handler keeping large freed blocks for reuse (host_arena.py).",
                                    -1, methods, NULL, NULL, NULL, NULL};

/* numpy's C API table, found as import_array() finds it */
static void **numpy_api(void) {
    PyObject *mod = PyImport_ImportModule("numpy._core._multiarray_umath");
    if (!mod) {
        PyErr_Clear();
        mod = PyImport_ImportModule("numpy.core._multiarray_umath");
    }
    if (!mod) return NULL;
    PyObject *cap = PyObject_GetAttrString(mod, "_ARRAY_API");
    Py_DECREF(mod);
    if (!cap) return NULL;
    void **api = PyCapsule_CheckExact(cap) ? (void **)PyCapsule_GetPointer(cap, NULL) : NULL;
    Py_DECREF(cap);
    if (!api && !PyErr_Occurred()) PyErr_SetString(PyExc_ImportError, "numpy's _ARRAY_API is not a capsule");
    return api;
}

PyMODINIT_FUNC PyInit__host_arena(void) {
    void **api = numpy_api();
    if (!api) return NULL;
    /* the C API version: PyDataMem_SetHandler exists from numpy 1.22 (API version 15) */
    unsigned int (*feature_version)(void) = (unsigned int (*)(void))api[211];
    if (feature_version() < 0xf) {
        PyErr_SetString(PyExc_ImportError, "the host arena needs numpy 1.22 or later");
        return NULL;
    }
    set_handler = (set_handler_fn)api[NP_SET_HANDLER_SLOT];
    arena.lock = PyThread_allocate_lock();
    if (!arena.lock) return PyErr_NoMemory();
    handler_capsule = PyCapsule_New(&handler, "mem_handler", NULL);
    if (!handler_capsule) return NULL;
    return PyModule_Create(&module);
}
