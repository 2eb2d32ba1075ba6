"""EmbeddedCExecutionProvider: runs claimed nodes through the C99 operator library via ctypes.

Per-node mode makes one foreign call per node; `fused=True` compiles each subgraph into one
generated C function (intermediates in one liveness-planned arena), one foreign call per run.
`kernels={"Relu": "my_relu.c"}` swaps in a vendor's source for an operator's default kernel.
"""

from __future__ import annotations

import ctypes
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ep_runtime.errors import ProviderError
from ep_runtime.graph import Graph, Node, SubGraph
from ep_runtime.provider import Capability, ExecutionProvider, Refusal

from . import build, codegen, failures
from .lowering import OP_SOURCES, SUPPORT_SOURCES, Call, lower

MAX_RANK = 8


class EpTensor(ctypes.Structure):
    """Mirror of `ep_tensor` in csrc/ep_tensor.h."""

    _fields_ = [("data", ctypes.c_void_p), ("dtype", ctypes.c_int32), ("rank", ctypes.c_int32),
                ("dims", ctypes.c_int64 * MAX_RANK), ("strides", ctypes.c_int64 * MAX_RANK)]


class ConvParams(ctypes.Structure):
    """Mirror of `ep_conv_params` in csrc/ops/conv.h."""

    _fields_ = [("group", ctypes.c_int64), ("kernel", ctypes.c_int64 * 2), ("strides", ctypes.c_int64 * 2),
                ("pads", ctypes.c_int64 * 4), ("dilations", ctypes.c_int64 * 2)]


class PoolParams(ctypes.Structure):
    """Mirror of `ep_pool_params` in csrc/ep_pool.h."""

    _fields_ = [("kernel", ctypes.c_int64 * 2), ("strides", ctypes.c_int64 * 2), ("pads", ctypes.c_int64 * 4),
                ("dilations", ctypes.c_int64 * 2), ("count_include_pad", ctypes.c_int32)]


def make_tensor(shape: Sequence[int]) -> EpTensor:
    t = EpTensor()
    t.dtype = 1
    t.rank = len(shape)
    stride = 1
    for i in range(MAX_RANK):
        t.dims[i] = 1
        t.strides[i] = 1
    for i in reversed(range(len(shape))):
        t.dims[i] = shape[i]
        t.strides[i] = stride
        stride *= shape[i]
    return t


def value_shape(graph: Graph, name: str) -> tuple[int, ...]:
    if name in graph.initializers:
        return tuple(graph.initializers[name].shape)
    shape = graph.value(name).static_shape
    if shape is None:
        raise ProviderError(f"EmbeddedCExecutionProvider: shape of {name!r} is not static")
    return shape


def resolve_kernels(kernels: dict[str, str] | None) -> tuple[dict[str, Path], dict[str, str]]:
    """Sources of the library (defaults with vendor files swapped in) and op -> vendor file name."""
    sources = build.default_sources()
    vendor: dict[str, str] = {}
    for op, path in (kernels or {}).items():
        stem = OP_SOURCES.get(op)
        if stem is None:
            raise ProviderError(f"EmbeddedCExecutionProvider: kernels option names {op!r}, which has no C kernel; "
                                f"known ops: {', '.join(sorted(OP_SOURCES))}")
        p = Path(os.fspath(path)).expanduser()
        if not p.is_file():
            raise ProviderError(f"EmbeddedCExecutionProvider: vendor kernel for {op} not found: {str(p)!r}")
        sources[stem] = p.resolve()
        for other, s in OP_SOURCES.items():
            if s == stem:
                vendor[other] = p.name
    return sources, vendor


class EmbeddedCExecutionProvider(ExecutionProvider):
    """Dependency-free C99 kernels built with the system C compiler and called through ctypes."""

    name: ClassVar[str] = "EmbeddedCExecutionProvider"
    aliases: ClassVar[tuple[str, ...]] = ("embedded_c",)
    device = "cpu"
    known_options: ClassVar[frozenset[str] | None] = frozenset({"fused", "kernels", "cflags"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.fused = bool(options.get("fused", False))
        sources, self.vendor = resolve_kernels(options.get("kernels"))
        extra = options.get("cflags") or ()
        self.library = build.Library(sources, [extra] if isinstance(extra, str) else list(extra))

    @classmethod
    def unavailable_reason(cls) -> str | None:
        if build.find_compiler() is None:
            return "no C compiler found: install gcc or clang (or set CC to one) to build the C99 kernels"
        return None

    def get_capability(self, graph: Graph, nodes: Sequence[Node]) -> Capability:
        cap = Capability()
        for node in nodes:
            call = lower(node, graph)
            if isinstance(call, Refusal):
                cap.refused[node.index] = call
                continue
            cap.claimed.append(node)
            if node.op_type in self.vendor:
                cap.notes[node.index] = f"kernel vendor:{self.vendor[node.op_type]}"
        return cap

    def _calls(self, subgraph: SubGraph) -> list[Call]:
        calls = []
        for node in subgraph.nodes:
            call = lower(node, subgraph.graph)
            if isinstance(call, Refusal):
                raise ProviderError(f"{self.name} cannot compile node {node.label}: {call}")
            calls.append(call)
        return calls

    def compile(self, subgraph: SubGraph) -> Callable[..., tuple]:
        calls = self._calls(subgraph)
        if self.fused:
            return self._compile_fused(subgraph, calls)
        return self._compile_per_node(subgraph, calls)

    # ------------------------------------------------------------------ per node

    def _compile_per_node(self, subgraph: SubGraph, calls: list[Call]) -> Callable[..., tuple]:
        lib = self.library.load()
        graph = subgraph.graph
        consts = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in subgraph.constants.items()
                  if v.dtype == np.float32}
        steps = []
        for call, node in zip(calls, subgraph.nodes):
            fn = getattr(lib, call.func)
            fn.restype = ctypes.c_int
            structs: dict[str, EpTensor] = {}
            args: list[Any] = []
            keep: list[Any] = []
            scratch_pos = -1

            def tensor(name: str, structs: dict[str, EpTensor] = structs) -> EpTensor:
                if name not in structs:
                    structs[name] = make_tensor(value_shape(graph, name))
                return structs[name]

            for kind, v in call.args:
                if kind == "t":
                    args.append(None if v is None else ctypes.byref(tensor(v)))
                elif kind == "ts":
                    arr = (ctypes.POINTER(EpTensor) * len(v))(*[ctypes.pointer(tensor(n)) for n in v])
                    keep.append(arr)
                    args += [arr, ctypes.c_int32(len(v))]
                elif kind == "i32":
                    args.append(ctypes.c_int32(v))
                elif kind == "i64":
                    args.append(ctypes.c_int64(v))
                elif kind == "f32":
                    args.append(ctypes.c_float(v))
                elif kind == "i64s":
                    arr = (ctypes.c_int64 * len(v))(*v)
                    keep.append(arr)
                    args.append(arr)
                elif kind == "conv":
                    p = ConvParams(v["group"], (ctypes.c_int64 * 2)(*v["kernel"]), (ctypes.c_int64 * 2)(*v["strides"]),
                                   (ctypes.c_int64 * 4)(*v["pads"]), (ctypes.c_int64 * 2)(*v["dilations"]))
                    keep.append(p)
                    args.append(ctypes.byref(p))
                elif kind == "pool":
                    p = PoolParams((ctypes.c_int64 * 2)(*v["kernel"]), (ctypes.c_int64 * 2)(*v["strides"]),
                                   (ctypes.c_int64 * 4)(*v["pads"]), (ctypes.c_int64 * 2)(*v["dilations"]),
                                   v["count_include_pad"])
                    keep.append(p)
                    args.append(ctypes.byref(p))
                elif kind == "scratch":
                    scratch_pos = len(args)
                    args.append(None)
            in_structs = [(n, structs[n], value_shape(graph, n)) for n in dict.fromkeys(call.inputs)]
            out_structs = [(n, structs[n], value_shape(graph, n)) for n in call.outputs]
            steps.append((fn, args, keep, in_structs, out_structs, scratch_pos, call.scratch, node, call.func))
        lock = threading.Lock()
        inputs, outputs = list(subgraph.inputs), list(subgraph.outputs)

        def run(*values: Any) -> tuple:
            env: dict[str, Any] = dict(consts)
            for n, v in zip(inputs, values):
                env[n] = v
            with lock:
                for fn, args, _keep, ins, outs, spos, ssize, node, func in steps:
                    for n, st, shape in ins:
                        a = env[n]
                        if not (isinstance(a, np.ndarray) and a.dtype == np.float32 and a.flags.c_contiguous):
                            a = env[n] = np.ascontiguousarray(a, dtype=np.float32)
                        if a.shape != shape:  # the descriptor's dims are the compiled ones: never read past `a`
                            raise failures.wrong_input_shape(node, n, a.shape, shape)
                        st.data = a.ctypes.data
                    for n, st, shape in outs:
                        a = env[n] = np.empty(shape, dtype=np.float32)
                        st.data = a.ctypes.data
                    if spos >= 0:
                        scratch = np.empty(max(ssize, 1), dtype=np.float32)
                        args[spos] = ctypes.c_void_p(scratch.ctypes.data)
                    rc = fn(*args)
                    if rc != 0:
                        raise failures.kernel_failed(node, func, rc)
            return tuple(env[o] for o in outputs)

        return run

    # ------------------------------------------------------------------ fused

    def _compile_fused(self, subgraph: SubGraph, calls: list[Call]) -> Callable[..., tuple]:
        graph = subgraph.graph
        used = {i for c in calls for i in c.inputs}
        consts = [k for k in subgraph.constants if k in used]
        const_arrays = [np.ascontiguousarray(subgraph.constants[k], dtype=np.float32) for k in consts]
        ext_in = [n for n in subgraph.inputs]
        outputs = list(subgraph.outputs)
        io = {}
        for k, n in enumerate(ext_in + consts):
            io.setdefault(n, k)
        for k, n in enumerate(outputs):
            io[n] = len(ext_in) + len(consts) + k
        shapes = {n: value_shape(graph, n) for c in calls for n in c.inputs + c.outputs}
        sizes = {n: int(np.prod(s)) for n, s in shapes.items()}
        inter = {n for c in calls for n in c.outputs if n not in io}
        plan = codegen.plan_arena(calls, inter, sizes)

        def locate(name: str) -> str:
            if name in io:
                return f"io[{io[name]}]"
            return f"arena + {plan.offsets[name]}"

        definitions = codegen.emit_functions(calls, [n.label for n in subgraph.nodes], shapes, locate,
                                             lambda k: f"arena + {plan.scratch[k]}", "ep_fused_run",
                                             "void *const *io, float *arena")
        src = "\n".join(codegen.includes(calls) + ["", *definitions, ""])
        # lib["..."] rather than lib.ep_fused_run: the library must not keep the function (a cycle
        # would leave unloading it to the cyclic GC); run holds the library, so it stays loaded
        lib = self.library.build_generated(src)
        fn = lib["ep_fused_run"]
        fn.restype = ctypes.c_int
        # Everything a run needs is built here, once: input buffers the caller's arrays are copied
        # into, output buffers, the arena and the pointer table. A run is then copies, one foreign
        # call with prebuilt arguments, and copies of the outputs (the buffers are reused).
        in_shapes = [value_shape(graph, n) for n in ext_in]
        in_bufs = [np.empty(s, dtype=np.float32) for s in in_shapes]
        out_bufs = [np.empty(s, dtype=np.float32) for s in (value_shape(graph, o) for o in outputs)]
        arena = np.empty(max(plan.size, 1), dtype=np.float32)
        table = [a.ctypes.data for a in in_bufs] + [a.ctypes.data for a in const_arrays] + \
                [a.ctypes.data for a in out_bufs]
        ptrs = (ctypes.c_void_p * max(len(table), 1))(*table)
        arena_ptr = ctypes.c_void_p(arena.ctypes.data)
        keep = (const_arrays, in_bufs, out_bufs, arena, lib)
        fn.argtypes = None
        nodes, funcs = list(subgraph.nodes), [c.func for c in calls]
        reader = {n: node for call, node in reversed(list(zip(calls, nodes))) for n in call.inputs}
        lock = threading.Lock()
        pairs = list(zip(in_bufs, in_shapes, ext_in))
        copyto = np.copyto

        def run(*values: Any) -> tuple:
            with lock:
                for (buf, shape, n), v in zip(pairs, values):
                    if getattr(v, "shape", None) != shape:
                        v = np.asarray(v)
                        if v.shape != shape:
                            raise failures.wrong_input_shape(reader.get(n, nodes[0]), n, v.shape, shape)
                    copyto(buf, v, casting="unsafe")
                rc = fn(ptrs, arena_ptr)
                if rc != 0:
                    raise failures.fused_failure(nodes, funcs, rc)
                return tuple([o.copy() for o in out_bufs])

        run._keep = keep  # type: ignore[attr-defined]
        return run


__all__ = ["EmbeddedCExecutionProvider", "SUPPORT_SOURCES"]
