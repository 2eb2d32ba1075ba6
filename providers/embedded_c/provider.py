"""EmbeddedCExecutionProvider: runs claimed nodes through the C99 operator library via ctypes.

Per-node mode makes one foreign call per node; `fused=True` compiles each subgraph into one
generated C function (intermediates in one liveness-planned arena), one foreign call per run.
`kernels={"Relu": "my_relu.c"}` swaps in a vendor's source for an operator's default kernel.
"""

from __future__ import annotations

import ctypes
import dataclasses
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ep_runtime.errors import ProviderError
from ep_runtime.graph import Graph, Node, SubGraph
from ep_runtime.provider import HOST, Capability, CompileOptions, ExecutionProvider, Refusal

from . import build, codegen, failures, quant, shape_values
from .affine import fuse_affine_runs
from .aligned import aligned_copy, aligned_empty
from .calls import C_DTYPES, SUPPORT_SOURCES, Call, flatten, value_dtype, walk
from .elide import elide_output_copies
from .lowering import OP_SOURCES, fuse_conv_activations, lower
from .shapes import TRIAL_DIM, Shape, Unsupported, fits_declared, propagate, trial_shapes

MAX_RANK = 8
#: compiled shape signatures kept per subgraph of symbolic shapes (least recently used dropped first)
MAX_SPECIALISATIONS = 8
#: fused mode: an input or output of at least this many bytes is passed by pointer rather than copied (a
#: pointer costs about a microsecond in Python, a copy of 64 KiB about as much)
DIRECT_BYTES = 1 << 16


class EpTensor(ctypes.Structure):
    """Mirror of `ep_tensor` in csrc/ep_tensor.h."""

    _fields_ = [("data", ctypes.c_void_p), ("dtype", ctypes.c_int32), ("rank", ctypes.c_int32),
                ("dims", ctypes.c_int64 * MAX_RANK), ("strides", ctypes.c_int64 * MAX_RANK)]


class ConvParams(ctypes.Structure):
    """Mirror of `ep_conv_params` in csrc/ep_window.h."""

    _fields_ = [("group", ctypes.c_int64), ("kernel", ctypes.c_int64 * 2), ("strides", ctypes.c_int64 * 2),
                ("pads", ctypes.c_int64 * 4), ("dilations", ctypes.c_int64 * 2)]


class PoolParams(ctypes.Structure):
    """Mirror of `ep_pool_params` in csrc/ep_pool.h."""

    _fields_ = [("kernel", ctypes.c_int64 * 2), ("strides", ctypes.c_int64 * 2), ("pads", ctypes.c_int64 * 4),
                ("dilations", ctypes.c_int64 * 2), ("count_include_pad", ctypes.c_int32)]


def make_tensor(shape: Sequence[int], dtype: int = 1) -> EpTensor:
    """A contiguous descriptor of `shape` and C element type `dtype` (csrc/ep_tensor.h), data unset."""
    t = EpTensor()
    t.dtype = dtype
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
    device = HOST
    known_options: ClassVar[frozenset[str] | None] = frozenset({"fused", "kernels", "cflags", "poison_outputs"})
    #: a run computes in C; numpy only copies (shape computations folded when specialising silence it themselves)
    uses_host_numpy: ClassVar[bool] = False

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.fused = bool(options.get("fused", False))
        # gating aid: outputs start as a poison pattern, so a kernel that leaves elements unwritten
        # can never pass on whatever memory happened to hold (the provider developer kit turns it on)
        self.poison_outputs = bool(options.get("poison_outputs", False))
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
            call = claim(node, graph)
            if isinstance(call, Refusal):
                cap.refused[node.index] = call
                continue
            cap.claimed.append(node)
            notes = [f"kernel vendor:{self.vendor[node.op_type]}"] if node.op_type in self.vendor else []
            if not _static(node, graph):
                notes.append("shapes specialised at run time")
            if notes:
                cap.notes[node.index] = "; ".join(notes)
        if cap.refused:  # other providers run some nodes: leave them the islands of glue between those
            islands = glue_islands(cap.claimed)
            for node in cap.claimed:
                if node.index in islands:
                    cap.refuse(node, "host", "only glue ops (Identity, Reshape, Equal, ...) here, between nodes "
                                             "another provider runs: a C call would cost more than their work")
                    cap.notes.pop(node.index, None)
            cap.claimed = [n for n in cap.claimed if n.index not in islands]
        return cap

    def _calls(self, subgraph: SubGraph) -> list[Call]:
        calls = []
        for node in subgraph.nodes:
            call = lower(node, subgraph.graph)
            if isinstance(call, Refusal):
                raise ProviderError(f"{self.name} cannot compile node {node.label}: {call}")
            calls.append(call)
        return calls

    def compile(self, subgraph: SubGraph, options: CompileOptions | None = None) -> Callable[..., tuple]:
        """Per-node or fused runner of the subgraph (`fused` option); shapes specialised at run time when
        they are symbolic. The library's kernels have finished when a call returns: synchronize() does nothing."""
        fuse = (options or CompileOptions.carried_by(subgraph)).fuse
        if all(_static(node, subgraph.graph) for node in subgraph.nodes) and \
                not shape_values.needs_specialising(subgraph):
            calls = self._calls(subgraph)
            return self.compile_shapes(subgraph, calls, call_shapes(subgraph.graph, calls), fuse)
        return Specialising(self, subgraph, fuse)

    def synchronize(self) -> None:
        """Nothing to wait for: a foreign call returns when its kernels are done."""

    def compile_shapes(self, subgraph: SubGraph, calls: list[Call], shapes: dict[str, Shape],
                       fuse: bool = True) -> Callable[..., tuple]:
        """The runner of `subgraph` for one concrete shape of each value (`shapes`); with `fuse` (graph
        optimizations on) each Conv whose only reader is an activation runs the pair as one call
        (`lowering.fuse_conv_activations`), and a run of Mul / Add by constants one pass (`affine.fuse_affine_runs`)."""
        nodes = subgraph.nodes
        if fuse:
            calls, nodes = fuse_conv_activations(calls, nodes, subgraph.graph, set(subgraph.outputs), self.vendor)
            calls, nodes = fuse_affine_runs(calls, nodes, subgraph.graph, set(subgraph.outputs), shapes, self.vendor)
            calls, nodes = quant.fuse_float_epilogues(calls, nodes, subgraph.graph, set(subgraph.outputs), shapes,
                                                      self.vendor)  # int8 product -> bias, Cast, scale, Swish
            calls, nodes = elide_output_copies(calls, nodes, subgraph.graph, set(subgraph.outputs), shapes,
                                               self.vendor)  # a copy into an output: its producer writes it
        else:  # pre-packed weights settled all the same: a vendor's kernel takes the default call
            calls = quant.settle_packed(calls, nodes, self.vendor)
        if len(nodes) != len(subgraph.nodes):
            subgraph = dataclasses.replace(subgraph, nodes=nodes)
        shapes = {**shapes, **{k: tuple(v.shape) for k, v in lowered_constants(calls).items()}}  # folded weights
        if self.fused:
            return self._compile_fused(subgraph, calls, shapes)
        return self._compile_per_node(subgraph, calls, shapes)

    # ------------------------------------------------------------------ per node

    def _compile_per_node(self, subgraph: SubGraph, calls: list[Call], shapes: dict[str, Shape]
                          ) -> Callable[..., tuple]:
        lib = self.library.load()
        consts = {k: aligned_copy(v) for k, v in {**subgraph.constants, **lowered_constants(calls)}.items()
                  if v.dtype in C_DTYPES}
        dtypes = call_dtypes(subgraph.graph, calls)
        inputs, outputs = list(subgraph.inputs), list(subgraph.outputs)
        # Nothing is allocated per run but the outputs handed back: one descriptor per value, the
        # constants, the intermediates (one arena planned by liveness, as in fused mode) and each
        # call's scratch are bound here; a run points the inputs' descriptors at the caller's arrays
        # and the outputs' at fresh arrays (the caller keeps those: they are never reused).
        produced = {o for c in walk(calls) for o in c.outputs}
        plan = codegen.plan_arena(calls, produced - set(outputs), value_bytes(shapes, dtypes))
        arena = aligned_empty(-(-max(plan.size, 1) // 4), np.float32)
        base = arena.ctypes.data
        structs: dict[str, EpTensor] = {}
        keep: list[Any] = [arena, consts]

        def tensor(name: str) -> EpTensor:
            if name not in structs:
                t = structs[name] = make_tensor(shapes[name], C_DTYPES[dtypes[name]])
                if name in consts:
                    t.data = consts[name].ctypes.data
                elif name in plan.offsets:
                    t.data = base + plan.offsets[name]
            return structs[name]

        steps = []
        flat = flatten(calls, subgraph.nodes)
        for k, (call, node) in enumerate(flat):
            fn = getattr(lib, call.func)
            fn.restype = ctypes.c_int
            args: list[Any] = []

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
                elif kind in ("i64s", "f32s") and v is None:
                    args.append(None)
                elif kind == "i64s":
                    arr = (ctypes.c_int64 * len(v))(*v)
                    keep.append(arr)
                    args.append(arr)
                elif kind == "f32s":
                    farr = (ctypes.c_float * len(v))(*v)
                    keep.append(farr)
                    args.append(farr)
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
                    args.append(ctypes.c_void_p(base + plan.scratch[k]) if call.scratch else None)
            branch = None
            if call.branches:  # ep_if_cond(cond, &taken): then the taken branch's steps, the other skipped
                taken = ctypes.c_int(0)
                keep.append(taken)
                args.append(ctypes.byref(taken))
                branch = (taken, len(walk(call.branches[0].calls)), len(walk(call.branches[1].calls)))
            steps.append((fn, args, node, call.func, branch))
        steps = _with_jumps(steps)
        reader = {n: node for call, node in reversed(flat) for n in call.inputs}
        in_bind = [(n, structs[n], shapes[n], reader[n]) if n in structs and n not in consts else None
                   for n in inputs]
        out_bind = [(k, structs[o], shapes[o]) for k, o in enumerate(outputs) if o in produced]
        # an output no call produces is one of the inputs or a constant, handed back as it is
        passed = {k: (inputs.index(o) if o in inputs else consts[o]) for k, o in enumerate(outputs)
                  if o not in produced}
        poison = self.poison_outputs
        lock = threading.Lock()

        def run(*values: Any) -> tuple:
            with lock:
                held = []
                for bind, v in zip(in_bind, values):
                    if bind is None:
                        continue
                    n, st, shape, node = bind
                    a = v
                    if not (isinstance(a, np.ndarray) and a.dtype == dtypes[n] and a.flags.c_contiguous):
                        a = np.ascontiguousarray(a, dtype=dtypes[n])
                    if a.shape != shape:  # the descriptor's dims are the compiled ones: never read past `a`
                        raise failures.wrong_input_shape(node, n, a.shape, shape)
                    st.data = a.ctypes.data
                    held.append(a)
                if poison:
                    poison_fill(arena)
                result: list[Any] = [None] * len(outputs)
                for k, st, shape in out_bind:
                    a = result[k] = np.empty(shape, dtype=dtypes[outputs[k]])
                    if poison:
                        poison_fill(a)
                    st.data = a.ctypes.data
                k = 0
                while k < len(steps):
                    fn, args, node, func, branch = steps[k]
                    k += 1
                    if fn is None:  # the end of a then-branch: skip the else-branch
                        k += branch
                        continue
                    rc = fn(*args)
                    if rc != 0:
                        raise failures.kernel_failed(node, func, rc)
                    if branch is not None and not branch[0].value:
                        k += branch[1] + 1  # the then-branch's steps and its closing jump
                for k, src in passed.items():
                    result[k] = values[src] if isinstance(src, int) else src.copy()
                return tuple(result)

        run._keep = (keep, structs)  # type: ignore[attr-defined]
        return run

    # ------------------------------------------------------------------ fused

    def _compile_fused(self, subgraph: SubGraph, calls: list[Call], shapes: dict[str, Shape]) -> Callable[..., tuple]:
        used = {i for c in walk(calls) for i in c.inputs}
        constants = {**subgraph.constants, **lowered_constants(calls)}
        consts = [k for k in constants if k in used]
        dtypes = call_dtypes(subgraph.graph, calls)
        const_arrays = [aligned_copy(constants[k], dtypes[k]) for k in consts]
        ext_in = [n for n in subgraph.inputs]
        outputs = list(subgraph.outputs)
        io = {}
        for k, n in enumerate(ext_in + consts):
            io.setdefault(n, k)
        for k, n in enumerate(outputs):
            io[n] = len(ext_in) + len(consts) + k
        inter = {n for c in walk(calls) for n in c.outputs if n not in io}
        plan = codegen.plan_arena(calls, inter, value_bytes(shapes, dtypes))

        def locate(name: str) -> str:
            if name in io:
                return f"io[{io[name]}]"
            return f"(char *)arena + {plan.offsets[name]}"

        definitions = codegen.emit_functions(calls, [n.label for n in subgraph.nodes], shapes, locate,
                                             lambda k: f"(float *)((char *)arena + {plan.scratch[k]})", "ep_fused_run",
                                             "void *const *io, float *arena",
                                             dtypes={n: C_DTYPES[d] for n, d in dtypes.items()})
        src = "\n".join(codegen.includes(calls) + ["", *definitions, ""])
        # lib["..."] rather than lib.ep_fused_run: the library must not keep the function (a cycle
        # would leave unloading it to the cyclic GC); run holds the library, so it stays loaded
        lib = self.library.build_generated(src)
        fn = lib["ep_fused_run"]
        fn.restype = ctypes.c_int
        # Everything a run needs is built here, once: input buffers the caller's arrays are copied
        # into, output buffers, the arena and the pointer table. A run is then copies, one foreign
        # call with prebuilt arguments, and copies of the outputs (the buffers are reused). From
        # DIRECT_BYTES up, a copy costs more than a pointer: such an input is read where the caller
        # holds it (when it is a C-contiguous aligned array of its dtype) and such an output is a
        # fresh array the call writes.
        in_shapes = [shapes[n] for n in ext_in]
        in_bufs = [aligned_empty(s, dtypes[n]) for s, n in zip(in_shapes, ext_in)]
        fresh = [value_bytes(shapes, dtypes)[o] >= DIRECT_BYTES for o in outputs]
        out_bufs = [None if big else np.empty(shapes[o], dtype=dtypes[o]) for o, big in zip(outputs, fresh)]
        arena = aligned_empty(-(-max(plan.size, 1) // 4), np.float32)
        table = [a.ctypes.data for a in in_bufs] + [a.ctypes.data for a in const_arrays] + \
                [0 if a is None else a.ctypes.data for a in out_bufs]
        ptrs = (ctypes.c_void_p * max(len(table), 1))(*table)
        arena_ptr = ctypes.c_void_p(arena.ctypes.data)
        keep = (const_arrays, in_bufs, out_bufs, arena, lib)
        fn.argtypes = None
        flat = flatten(calls, subgraph.nodes)
        nodes, funcs = [node for _, node in flat], [c.func for c, _ in flat]
        reader = {n: node for call, node in reversed(flat) for n in call.inputs}
        poison = self.poison_outputs
        lock = threading.Lock()
        # per input: (table slot, buffer, its address when the input may be read in place else 0, shape, name)
        ins = [(k, buf, table[k] if buf.nbytes >= DIRECT_BYTES else 0, shape, n)
               for k, (buf, shape, n) in enumerate(zip(in_bufs, in_shapes, ext_in))]
        base = len(ext_in) + len(const_arrays)
        # per output: (table slot, None) for a fresh array, else (None, the buffer copied out)
        outs = [(base + k, None) if big else (None, buf) for k, (big, buf) in enumerate(zip(fresh, out_bufs))]
        out_specs = [(shapes[o], dtypes[o]) for o in outputs]
        any_fresh = any(fresh)

        def run(*values: Any) -> tuple:
            with lock:
                for (k, buf, own, shape, n), v in zip(ins, values):
                    if type(v) is not np.ndarray or v.shape != shape:
                        v = np.asarray(v)
                        if v.shape != shape:
                            raise failures.wrong_input_shape(reader.get(n, nodes[0]), n, v.shape, shape)
                    if not own:
                        buf[...] = v
                    elif v.dtype == buf.dtype and v.flags.c_contiguous and v.flags.aligned:
                        ptrs[k] = v.ctypes.data  # the caller holds v until run returns
                    else:
                        buf[...] = v
                        ptrs[k] = own
                result = None
                if any_fresh:
                    result = [None if k is None else np.empty(*spec) for (k, _), spec in zip(outs, out_specs)]
                    for (k, _), a in zip(outs, result):
                        if k is not None:
                            ptrs[k] = a.ctypes.data
                if poison:
                    for o in (*(result or ()), *out_bufs, arena):
                        if o is not None:
                            poison_fill(o)
                rc = fn(ptrs, arena_ptr)
                if rc != 0:
                    raise failures.fused_failure(nodes, funcs, rc)
                if result is None:
                    return tuple([buf.copy() for _, buf in outs])
                return tuple([a if buf is None else buf.copy() for a, (_, buf) in zip(result, outs)])

        run._keep = keep  # type: ignore[attr-defined]
        return run


def poison_fill(array: np.ndarray) -> None:
    """Fill `array` with a pattern no correct kernel leaves behind: NaN for floats, 0xA5 bytes otherwise."""
    if array.dtype.kind == "f":
        array.fill(np.nan)
    else:
        array.view(np.uint8).fill(0xA5)


def call_dtypes(graph: Graph, calls: Sequence[Call]) -> dict[str, np.dtype]:
    """The element type of every value `calls` read or write (float32, or the quantized operators'
    uint8, int8 and int32, int64 indices, bool), those local to If branches included."""
    local = {**{k: v.dtype for k, v in lowered_constants(calls).items()}, **_branch_values(calls, "dtypes")}
    return {n: local[n] if n in local else value_dtype(graph, n) for c in walk(calls) for n in c.inputs + c.outputs}


def lowered_constants(calls: Sequence[Call]) -> dict[str, np.ndarray]:
    """The constants the lowering made: Constant nodes' values, and the If branches' own initializers
    (renamed apart)."""
    made = _branch_values(calls, "constants")
    for c in walk(calls):
        made.update(c.constants)
    return made


def _branch_values(calls: Sequence[Call], what: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for c in walk(calls):
        for b in c.branches:
            out.update(getattr(b, what))
    return out


def value_bytes(shapes: dict[str, Shape], dtypes: dict[str, np.dtype]) -> dict[str, int]:
    """The size in bytes of each value (its element type's size: a uint8 value takes 1 byte an element)."""
    return {n: int(np.prod(s)) * dtypes[n].itemsize for n, s in shapes.items() if n in dtypes}


def _with_jumps(steps: list[tuple]) -> list[tuple]:
    """Per-node steps with a jump after each If's then-branch over its else-branch:
    `(None, None, None, None, else steps)`. An If's step holds (taken, then steps, else steps)."""
    out: list[tuple] = []
    k = 0

    def take(count: int) -> None:
        nonlocal k
        end = k + count
        while k < end:
            step = steps[k]
            k += 1
            if step[4] is None:
                out.append(step)
                continue
            taken, then_n, else_n = step[4]
            out.append((*step[:4], (taken, _grown(steps, k, then_n))))
            take(then_n)
            out.append((None, None, None, None, _grown(steps, k, else_n)))
            take(else_n)

    take(len(steps))
    return out


def _grown(steps: list[tuple], start: int, count: int) -> int:
    """How many per-node steps `count` flat steps from `start` become once nested Ifs get their jumps."""
    return count + sum(1 for s in steps[start:start + count] if s[4] is not None)


#: ops that move, view or compare a few values: the cpu provider runs most of them as views, so an island of
#: only these between nodes another provider runs would cost a subgraph crossing for almost no work
GLUE_OPS = frozenset({"Identity", "Reshape", "Squeeze", "Unsqueeze", "Flatten", "Shape", "Size", "Equal", "Not",
                      "Cast"})


def glue_islands(claimed: Sequence[Node]) -> set[int]:
    """Indices of the claimed nodes whose connected piece (claimed nodes joined by the values they pass one
    another) holds only GLUE_OPS."""
    parent = {n.index: n.index for n in claimed}

    def root(k: int) -> int:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    producer = {out: n.index for n in claimed for out in n.outputs if out}
    for n in claimed:
        for name in n.inputs:
            if name in producer:
                parent[root(n.index)] = root(producer[name])
    heavy = {root(n.index) for n in claimed if n.op_type not in GLUE_OPS or n.domain not in ("", "ai.onnx")}
    return {n.index for n in claimed if root(n.index) not in heavy}


def _static(node: Node, graph: Graph) -> bool:
    """Whether every value `node` reads or writes has a static declared shape."""
    return all(n in graph.initializers or graph.value(n).static_shape is not None
               for n in list(node.inputs) + list(node.implicit_inputs) + list(node.outputs) if n)


def claim(node: Node, graph: Graph) -> Call | Refusal:
    """The call for `node` if the provider can run it, else why not.

    A node of symbolic shapes is checked with each symbolic dim standing for `shapes.TRIAL_DIM`
    (op, dtype, attributes, shapes that fit together): on the trial graph (`shape_values.trial_graph`:
    the graph inputs' trial shapes propagated, shape computations folded), else alone; its real shapes
    are checked again when it is specialised at run time. A shape computation is claimed when it can be
    folded (`shape_values.folded_claim`).
    """
    folded = shape_values.folded_claim(node, graph)
    if folded is not None:  # a shape computation: a constant once the shapes are specialised
        return folded
    trial = shape_values.claim_graph(node, graph)  # folded values as trial constants, unknown ranks inferred
    call = _claim(node, trial)
    if isinstance(call, Refusal) and trial is not graph:  # the node alone, its symbolic dims as TRIAL_DIM
        alone = _claim(node, graph)
        if not isinstance(alone, Refusal):
            return alone
        if call.kind in ("dynamic_shape", "attribute") and "symbolic dims tried as" not in call.reason:
            return Refusal(call.kind, f"{call.reason} (symbolic dims tried as {shape_values.PROPAGATED_TRIAL_DIM})")
    return call


def _claim(node: Node, graph: Graph) -> Call | Refusal:
    call = lower(node, graph)
    if not isinstance(call, Refusal) or call.kind != "dynamic_shape" or _static(node, graph):
        return call
    try:
        trial = trial_shapes(node, graph, [i for i in node.inputs + node.implicit_inputs if i])
    except Unsupported as exc:
        return exc.refusal
    try:
        shapes = propagate([node], graph, trial)
    except Unsupported as exc:
        return Refusal(exc.refusal.kind, f"{exc.refusal.reason} (symbolic dims tried as {TRIAL_DIM})")
    return lower(node, graph, shapes)


def call_shapes(graph: Graph, calls: Sequence[Call], shapes: dict[str, Shape] | None = None) -> dict[str, Shape]:
    """The concrete shape of every value `calls` read or write: a constant's own, else the one
    `shapes` gives (a specialisation), else the static declared one."""
    out = {}
    local = {**{k: tuple(v.shape) for k, v in lowered_constants(calls).items()}, **_branch_values(calls, "shapes")}
    for n in (n for c in walk(calls) for n in c.inputs + c.outputs):
        if n in local:
            out[n] = local[n]
        else:
            out[n] = value_shape(graph, n) if shapes is None or n in graph.initializers else shapes[n]
    return out


class Specialising:
    """The runner of a subgraph of symbolic shapes: compiled per signature (the shapes of its inputs)
    at the first run with that signature, the last `MAX_SPECIALISATIONS` kept.

    Each specialisation propagates the inputs' shapes through the nodes with the provider's shape
    rules and checks them against the declared dims; inputs that do not fit are a `KernelError`
    naming the node and the value, never a kernel handed a buffer of the wrong size.
    """

    def __init__(self, provider: EmbeddedCExecutionProvider, subgraph: SubGraph, fuse: bool = True) -> None:
        self.provider = provider
        self.subgraph = subgraph
        self.fuse = fuse
        self.compiled: OrderedDict[tuple[Shape, ...], Callable[..., tuple]] = OrderedDict()
        self.lock = threading.Lock()
        #: inputs that are folded shape values made in another subgraph: their values join the signature
        self.value_inputs = shape_values.value_inputs(subgraph)

    def __call__(self, *values: Any) -> tuple:
        sig = tuple(tuple(np.shape(v)) for v in values) + \
            tuple(np.asarray(values[k]).tobytes() for k in self.value_inputs)
        with self.lock:
            run = self.compiled.get(sig)
            if run is None:
                run = self._specialise(sig, values)
                self.compiled[sig] = run
                while len(self.compiled) > MAX_SPECIALISATIONS:
                    self.compiled.popitem(last=False)
            else:
                self.compiled.move_to_end(sig)
        return run(*values)

    def _specialise(self, sig: tuple[Shape, ...], values: Sequence[Any]) -> Callable[..., tuple]:
        sub, graph = self.subgraph, self.subgraph.graph
        known = dict(zip(sub.inputs, sig))
        for name, shape in known.items():
            declared = None if name in graph.initializers else graph.value(name).shape
            if not fits_declared(declared, shape):
                reader = next((n for n in sub.nodes if name in n.inputs), sub.nodes[0])
                raise failures.cannot_specialise(reader, f"input {name!r} has shape {list(shape)}, but the model "
                                                         f"declares {list(declared or [])}")
        try:  # shape computations are folded into constants on the way (shape_values.py), with numpy's
            # floating-point warnings silenced as a session silences them around the cpu provider's kernels
            with np.errstate(all="ignore"):
                spec = shape_values.specialise(sub.nodes, graph, known,
                                               {sub.inputs[k]: np.asarray(values[k]) for k in self.value_inputs})
            runs, calls, keep = shape_values.specialised_calls(sub, spec)
        except Unsupported as exc:
            raise failures.cannot_specialise(exc.node or sub.nodes[0], exc.refusal.reason) from None
        run = self.provider.compile_shapes(runs, calls, call_shapes(runs.graph, calls, spec.shapes), self.fuse)
        if len(keep) == len(sub.inputs):
            return run
        return lambda *values: run(*[values[k] for k in keep])  # inputs read only for their shape dropped


__all__ = ["EmbeddedCExecutionProvider", "SUPPORT_SOURCES"]
