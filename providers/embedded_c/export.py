"""Standalone C export: `ep-runtime export-c model.onnx -o outdir/`.

The folder holds `model.h` (one `model_run` entry point, sizes as macros), `model.c` (straight-line
calls into the operator library, every intermediate in one static arena planned by liveness),
the weights as `const` tables of bytes (`weights_*.c`, string literals: they compile in seconds),
the operator sources it needs and a `main.c` that reads and writes raw float32 files. It builds with
`cc -std=c99 *.c -lm` and never calls malloc.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from ep_runtime.errors import EPRuntimeError
from ep_runtime.graph import Graph
from ep_runtime.optimization_level import GraphOptimizationLevel
from ep_runtime.provider import Refusal
from ep_runtime.session import InferenceSession
from ep_runtime.session_options import SessionOptions

from . import build, codegen, quant
from .affine import fuse_affine_runs
from .calls import C_DTYPES, SUPPORT_SOURCES, Call, walk
from .lowering import fuse_conv_activations, lower
from .provider import call_dtypes, call_shapes, lowered_constants, resolve_kernels, value_bytes
from .shapes import Shape, Unsupported, propagate

#: bytes of weights per weights_*.c file (several files compile in parallel)
WEIGHT_BYTES_PER_FILE = 16 << 20
#: weights start at multiples of this many bytes inside their table
WEIGHT_ALIGN = 64
#: what model_run returns when this target does not read the weights' floats back (not little-endian IEEE 754)
ERR_WEIGHT_FORMAT = 1
#: the union member of a weights table through which a constant of each dtype is read
WEIGHT_MEMBERS = {np.dtype(np.float32): "f", np.dtype(np.int8): "i8", np.dtype(np.uint8): "u8",
                  np.dtype(np.int32): "i32", np.dtype(np.int64): "i64"}
_MEMBER_TYPES = {"f": ("float", 4), "i8": ("int8_t", 1), "u8": ("uint8_t", 1), "i32": ("int32_t", 4),
                 "i64": ("int64_t", 8)}
#: the C type of a model input or output of each element type (main.c reads and writes their raw bytes)
IO_C_TYPES = {np.dtype(np.float32): "float", np.dtype(np.uint8): "uint8_t", np.dtype(np.int8): "int8_t",
              np.dtype(np.int32): "int32_t", np.dtype(np.int64): "int64_t", np.dtype(np.bool_): "unsigned char"}
SUPPORT_HEADERS = ("ep_tensor.h", "ep_broadcast.h", "ep_binary.h", "ep_unary.h", "ep_quant.h", "ep_pool.h",
                   "ep_sgemm.h", "ep_window.h")


class ExportError(EPRuntimeError):
    """The model cannot be exported to C; the message lists every offending node or value."""


@dataclass
class NodeRow:
    index: int
    op: str
    name: str
    ram_bytes: int
    weight_bytes: int


@dataclass
class ExportResult:
    outdir: Path
    arena_bytes: int
    weight_bytes: int
    intermediate_bytes: int
    rows: list[NodeRow] = field(default_factory=list)
    inputs: list[tuple[str, tuple[int, ...]]] = field(default_factory=list)
    outputs: list[tuple[str, tuple[int, ...]]] = field(default_factory=list)
    #: element type of each input and output (float32 unless said otherwise)
    dtypes: dict[str, np.dtype] = field(default_factory=dict)

    def report(self) -> str:
        lines = [f"exported to {self.outdir}",
                 f"arena: {self.arena_bytes} bytes (static RAM for all intermediates and scratch)",
                 f"weights: {self.weight_bytes} bytes (const)",
                 f"sum of intermediate sizes: {self.intermediate_bytes} bytes (without sharing)",
                 "", f"{'#':>4}  {'op':<20} {'ram (arena slice)':>18} {'weights':>12}  name"]
        for r in self.rows:
            lines.append(f"{r.index:>4}  {r.op:<20} {r.ram_bytes:>18} {r.weight_bytes:>12}  {r.name!r}")
        return "\n".join(lines)


def pin_dims(model: onnx.ModelProto, dims: dict[str, int]) -> onnx.ModelProto:
    """A copy of `model` with symbolic input dims fixed (`batch=1`) and stale value_info dropped."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    if not dims:
        return m
    for vi in list(m.graph.input) + list(m.graph.output):
        for d in vi.type.tensor_type.shape.dim:
            if d.HasField("dim_param") and d.dim_param in dims:
                d.dim_value = dims[d.dim_param]
    del m.graph.value_info[:]
    return m


def _optimized_graph(model: onnx.ModelProto) -> tuple[Graph, Any]:
    # BASIC: constants folded, no fusions: the CPU-only fused ops (com.microsoft QuickGelu, ...) that the
    # EXTENDED rewrites may write for a CPU session have no C lowering
    opts = SessionOptions()
    opts.graph_optimization_level = GraphOptimizationLevel.ORT_ENABLE_BASIC
    sess = InferenceSession(model, opts, providers=["cpu"])
    # core request (notes/core-requests-embedded-c.md): a public accessor for the optimized graph
    return sess.get_graph(), sess


def _check(graph: Graph) -> tuple[list[Call], list[str], dict[str, Shape]]:
    """The calls of every node, every problem found, and the shape of every value.

    Shapes are propagated from the (pinned) input shapes with the provider's shape rules, so a value
    ONNX inference left symbolic still gets its concrete shape, checked against its declared dims."""
    calls, problems = [], []
    shapes: dict[str, Shape] = {}
    for v in graph.inputs:
        if v.dtype not in IO_C_TYPES:
            problems.append(f"input {v.name!r}: {v.dtype} not supported ({', '.join(str(d) for d in IO_C_TYPES)})")
        elif v.static_shape is None:
            problems.append(f"input {v.name!r}: shape {list(v.shape or [])} is not static; pin it with --dim NAME=INT")
        else:
            shapes[v.name] = v.static_shape
    for node in graph.nodes:
        try:
            shapes = propagate([node], graph, shapes)
        except Unsupported as exc:
            problems.append(f"node {node.label}: {exc.refusal}")
            continue
        call = lower(node, graph, shapes)
        if isinstance(call, Refusal):
            problems.append(f"node {node.label}: {call}")
        else:
            calls.append(call)
    produced = {o for c in calls for o in c.outputs}
    for o in graph.outputs:
        if o.name not in produced and not problems:
            problems.append(f"output {o.name!r} is not computed by a node (an input or a constant)")
    return calls, problems, shapes


def export_model(model: str | os.PathLike | onnx.ModelProto, outdir: str | os.PathLike,
                 dims: dict[str, int] | None = None, kernels: dict[str, str] | None = None) -> ExportResult:
    """Write the standalone C folder for `model`; raise ExportError listing every unsupported node."""
    proto = model if isinstance(model, onnx.ModelProto) else onnx.load(os.fspath(model))
    graph, _ = _optimized_graph(pin_dims(proto, dims or {}))
    calls, problems, known = _check(graph)
    if problems:
        raise ExportError(f"cannot export to C: {len(problems)} problem(s):\n  " + "\n  ".join(problems))
    sources, vendor = resolve_kernels(kernels)
    calls, nodes = fuse_conv_activations(calls, graph.nodes, graph, {v.name for v in graph.outputs}, vendor)
    calls, nodes = fuse_affine_runs(calls, nodes, graph, set(), call_shapes(graph, calls, known), vendor)
    calls, nodes = quant.fuse_float_epilogues(calls, nodes, graph, set(), call_shapes(graph, calls, known), vendor)
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)

    ins = [v.name for v in graph.inputs]
    outs = [v.name for v in graph.outputs]
    used = [n for c in walk(calls) for n in c.inputs]
    constants = {**graph.initializers, **lowered_constants(calls)}
    consts = list(dict.fromkeys(n for n in used if n in constants))
    shapes = call_shapes(graph, calls, known)
    dtypes = call_dtypes(graph, calls)
    for v in graph.inputs + graph.outputs:
        dtypes.setdefault(v.name, np.dtype(v.dtype))
    sizes = value_bytes(shapes, dtypes)
    inter = {n for c in walk(calls) for n in c.outputs if n not in outs}
    plan = codegen.plan_arena(calls, inter, sizes)

    const_id = {n: k for k, n in enumerate(consts)}
    tables, placed = _place_weights([constants[n] for n in consts])
    in_id = {n: k for k, n in enumerate(ins)}
    out_id = {n: k for k, n in enumerate(outs)}

    def locate(name: str) -> str:
        if name in out_id:
            return f"out_{out_id[name]}"
        if name in in_id:
            return f"in_{in_id[name]}"
        if name in const_id:
            table, member, index = placed[const_id[name]]
            return f"ep_weights_{table}.{member} + {index}"
        return f"(unsigned char *)model_arena + {plan.offsets[name]}"

    labels = [n.label for n in nodes]
    params = [f"const {IO_C_TYPES[dtypes[n]]} *in_{k}" for k, n in enumerate(ins)]
    params += [f"{IO_C_TYPES[dtypes[n]]} *out_{k}" for k, n in enumerate(outs)]
    signature = f"int model_run({', '.join(params)})"
    # model_run checks the weights read back, then runs the nodes (in parts of at most
    # codegen.MAX_CALLS_PER_FUNCTION calls, so that a big model compiles in time linear in its size)
    nodes_fn = codegen.emit_functions(calls, labels, shapes, locate,
                                      lambda k: f"(float *)((unsigned char *)model_arena + {plan.scratch[k]})",
                                      "model_run_nodes", ", ".join(params),
                                      dtypes={n: C_DTYPES[d] for n, d in call_dtypes(graph, calls).items()})
    pass_on = ", ".join([f"in_{k}" for k in range(len(ins))] + [f"out_{k}" for k in range(len(outs))])

    weight_bytes = sum(constants[n].nbytes for n in consts)
    h = ["/* model.h: generated by ep-runtime export-c. */", "#ifndef MODEL_H", "#define MODEL_H", "",
         "#include <stdint.h>", "",
         f"#define MODEL_NUM_INPUTS {len(ins)}", f"#define MODEL_NUM_OUTPUTS {len(outs)}"]
    for k, n in enumerate(ins):
        h.append(f"/* input {k}: {codegen.comment(n)} shape {list(known[n])} */")
        h.append(f"#define MODEL_INPUT_{k}_SIZE {int(np.prod(known[n]))}")
    for k, n in enumerate(outs):
        h.append(f"/* output {k}: {codegen.comment(n)} shape {list(known[n])} */")
        h.append(f"#define MODEL_OUTPUT_{k}_SIZE {int(np.prod(known[n]))}")
    h += [f"#define MODEL_ARENA_FLOATS {-(-max(plan.size, 1) // 4)}",
          "#define MODEL_ARENA_BYTES (MODEL_ARENA_FLOATS * 4)",
          f"#define MODEL_WEIGHT_BYTES {weight_bytes}",
          "/* model_run's answer on a target that does not read the weights back: they are stored as",
          " * little-endian IEEE 754 bytes (Arm Cortex-M/A, RISC-V, x86 read them so) */",
          f"#define MODEL_ERR_WEIGHT_FORMAT {ERR_WEIGHT_FORMAT}", "",
          "/* Runs the model: inputs and outputs are contiguous buffers of the sizes above (float32 unless",
          " * the prototype says otherwise).",
          " * Returns 0, MODEL_ERR_WEIGHT_FORMAT, or 16 * (node + 1) + error code of the failing",
          " * operator. Not reentrant: intermediates live in one static arena. */",
          signature + ";", "", "#endif /* MODEL_H */", ""]
    (out / "model.h").write_text("\n".join(h))

    c = ["/* model.c: generated by ep-runtime export-c; straight-line calls into the operator library. */",
         *codegen.includes(calls), '#include "model.h"', '#include "model_weights.h"', "",
         "static float model_arena[MODEL_ARENA_FLOATS];",
         "/* the float 1.0 as little-endian IEEE 754 bytes, as the weights are stored */",
         "static const union {", "    unsigned char bytes[4];", "    float f;",
         "} model_one = {{0x00, 0x00, 0x80, 0x3f}};",
         "", *nodes_fn, "", signature, "{", "    if (model_one.f != 1.0f) {", "        return MODEL_ERR_WEIGHT_FORMAT;",
         "    }", f"    return model_run_nodes({pass_on});", "}", ""]
    (out / "model.c").write_text("\n".join(c))
    _write_weights(out, tables, [(n, constants[n]) for n in consts], placed)

    # operator library sources (vendor replacements included) and the support files
    needed = set(SUPPORT_SOURCES) | {x for c in walk(calls) for x in (c.source, *c.shared) if x}
    for stem in sorted(needed):
        shutil.copyfile(sources[stem], out / f"{stem}.c")
        hdr = build.OPS_DIR / f"{stem}.h"
        if hdr.exists():
            shutil.copyfile(hdr, out / f"{stem}.h")
    for hname in sorted({*SUPPORT_HEADERS, *(h.name for h in build.CSRC.glob("*.h"))}):  # shared headers
        shutil.copyfile(build.CSRC / hname, out / hname)
    (out / "main.c").write_text(_main_c([IO_C_TYPES[dtypes[n]] for n in ins], [IO_C_TYPES[dtypes[n]] for n in outs]))

    rows = []
    for k, (node, call) in enumerate(zip(nodes, calls)):
        mine = walk([call])
        ram = sum(sizes[o] for c in mine for o in c.outputs if o in plan.offsets) + sum(4 * c.scratch for c in mine)
        wb = sum(constants[i].nbytes for i in dict.fromkeys(i for c in mine for i in c.inputs) if i in const_id)
        rows.append(NodeRow(k, node.op_type, node.name, ram, wb))
    return ExportResult(out, -(-max(plan.size, 1) // 4) * 4, weight_bytes, plan.total_intermediate, rows,
                        [(n, known[n]) for n in ins], [(n, known[n]) for n in outs],
                        {n: dtypes[n] for n in ins + outs})


def _place_weights(arrays: list[np.ndarray]) -> tuple[list[int], list[tuple[int, str, int]]]:
    """Byte size of each weights table, and (table, union member, element index) of each constant.

    Constants go into tables of at most `WEIGHT_BYTES_PER_FILE` bytes (one more for a bigger one),
    each at a multiple of `WEIGHT_ALIGN` bytes."""
    tables: list[int] = [0]
    placed = []
    for arr in arrays:
        member = WEIGHT_MEMBERS.get(arr.dtype)
        if member is None:
            raise ExportError(f"cannot export a constant of dtype {arr.dtype} (no weights table member for it)")
        size = -(-max(arr.nbytes, 1) // WEIGHT_ALIGN) * WEIGHT_ALIGN
        if tables[-1] and tables[-1] + size > WEIGHT_BYTES_PER_FILE:
            tables.append(0)
        placed.append((len(tables) - 1, member, tables[-1] // arr.dtype.itemsize))
        tables[-1] += size
    return tables, placed


def _write_weights(out: Path, tables: list[int], consts: list[tuple[str, np.ndarray]],
                   placed: list[tuple[int, str, int]]) -> None:
    """model_weights.h (one union type per table) and weights_K.c (each table's bytes, little-endian)."""
    wh = ["/* model_weights.h: the model's constants, as tables of little-endian bytes read through unions. */",
          "#ifndef MODEL_WEIGHTS_H", "#define MODEL_WEIGHTS_H", "", "#include <stdint.h>", ""]
    row = codegen.ROW_BYTES
    for t, nbytes in enumerate(tables):
        rows = max(-(-nbytes // row), 1)
        wh += ["typedef union {", f"    unsigned char bytes[{rows}][{row}];"]
        wh += [f"    {ctype} {m}[{rows * row // width}];" for m, (ctype, width) in _MEMBER_TYPES.items()]
        wh += [f"}} ep_weights_{t}_t;", f"extern const ep_weights_{t}_t ep_weights_{t};", ""]
    for (name, arr), (t, member, index) in zip(consts, placed):
        wh.append(f"/* {codegen.comment(name)}: ep_weights_{t}.{member} + {index}, {arr.dtype} {list(arr.shape)} */")
    wh += ["", "#endif /* MODEL_WEIGHTS_H */", ""]
    (out / "model_weights.h").write_text("\n".join(wh))
    for old in out.glob("weights_*.c"):
        old.unlink()
    for t, nbytes in enumerate(tables):
        data = bytearray(nbytes)
        for (_name, arr), (tt, _member, index) in zip(consts, placed):
            if tt == t:
                start = index * arr.dtype.itemsize
                data[start:start + arr.nbytes] = np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<")).tobytes()
        (out / f"weights_{t}.c").write_text(
            f'/* weights_{t}.c: generated by ep-runtime export-c */\n#include "model_weights.h"\n\n'
            f"const ep_weights_{t}_t ep_weights_{t} = {{{{\n{codegen.byte_rows(bytes(data))}\n}}}};\n")


def _main_c(in_types: list[str], out_types: list[str]) -> str:
    n_in, n_out = len(in_types), len(out_types)
    decl = [f"static {t} in_{k}[MODEL_INPUT_{k}_SIZE];" for k, t in enumerate(in_types)]
    decl += [f"static {t} out_{k}[MODEL_OUTPUT_{k}_SIZE];" for k, t in enumerate(out_types)]
    reads = "".join(f"    if (transfer(argv[{1 + k}], in_{k}, sizeof in_{k}[0], MODEL_INPUT_{k}_SIZE, 0)) {{\n"
                    f"        return 1;\n    }}\n" for k in range(n_in))
    writes = "".join(f"    if (transfer(argv[{1 + n_in + k}], out_{k}, sizeof out_{k}[0], MODEL_OUTPUT_{k}_SIZE, 1))"
                     f" {{\n        return 1;\n    }}\n" for k in range(n_out))
    args = ", ".join([f"in_{k}" for k in range(n_in)] + [f"out_{k}" for k in range(n_out)])
    return f"""/* main.c: runs model_run on raw files (each input's and output's elements, little-endian):
 * ./model in_0.bin ... out_0.bin ...
 * With no arguments it runs on zeros and prints the first output value. */
#include <stdio.h>

#include "model.h"

{chr(10).join(decl)}

/* model_run returns 16 * (node + 1) + the operator's code (csrc ep_tensor.h); node k is marked in model.c. */
static void report(int rc)
{{
    static const char *const meaning[] = {{"", "a tensor has an element type the kernel does not take (EP_ERR_DTYPE)",
        "the tensor shapes do not agree (EP_ERR_SHAPE)", "an attribute or parameter is out of range (EP_ERR_ARG)"}};
    int code = rc % 16;
    if (rc == MODEL_ERR_WEIGHT_FORMAT) {{
        fprintf(stderr, "model_run: this target does not read the weights' little-endian IEEE 754 floats\\n");
        return;
    }}
    fprintf(stderr, "model_run failed at node %d (see model.c) with code %d: %s\\n", rc / 16 - 1, code,
            code > 0 && code < 4 ? meaning[code] : "unknown error");
}}

/* Reads (writing 0) or writes n elements of `size` bytes between the file `path` and buf; 0 when all were. */
static int transfer(const char *path, void *buf, size_t size, size_t n, int writing)
{{
    FILE *f = fopen(path, writing ? "wb" : "rb");
    size_t done;
    if (!f) {{
        fprintf(stderr, "cannot %s %s\\n", writing ? "create" : "open", path);
        return 1;
    }}
    done = writing ? fwrite(buf, size, n, f) : fread(buf, size, n, f);
    fclose(f);
    if (done != n) {{
        fprintf(stderr, "%s: expected %lu elements, %s %lu\\n", path, (unsigned long)n, writing ? "wrote" : "read",
                (unsigned long)done);
        return 1;
    }}
    return 0;
}}

int main(int argc, char **argv)
{{
    int rc;
    if (argc == 1) {{
        rc = model_run({args});
        if (rc != 0) {{
            report(rc);
            return 3;
        }}
        printf("model_run returned %d; first output value %g\\n", rc, (double)out_0[0]);
        return 0;
    }}
    if (argc != 1 + MODEL_NUM_INPUTS + MODEL_NUM_OUTPUTS) {{
        fprintf(stderr, "usage: %s INPUT.bin x %d OUTPUT.bin x %d\\n", argv[0], MODEL_NUM_INPUTS, MODEL_NUM_OUTPUTS);
        return 2;
    }}
{reads}    rc = model_run({args});
    if (rc != 0) {{
        report(rc);
        return 3;
    }}
{writes}    return 0;
}}
"""


def build_folder(outdir: str | os.PathLike, extra_flags: list[str] | None = None, opt: str = "-O1",
                 objdir: str | os.PathLike | None = None) -> Path:
    """Compile an exported folder (each .c in parallel, then link) into `outdir/model_main`.

    The object files go to a temporary folder, removed after, or stay in `objdir` when given."""
    cc = build.find_compiler()
    if cc is None:
        raise ExportError("no C compiler found to build the exported folder (install gcc or clang, or set CC)")
    out = Path(outdir)
    flags = ["-std=c99", opt, *(extra_flags or [])]
    keep = objdir is not None
    objdir = Path(objdir) if keep else Path(tempfile.mkdtemp(prefix="ep_export_obj_"))
    objdir.mkdir(parents=True, exist_ok=True)
    try:
        srcs = sorted(out.glob("*.c"))

        def one(src: Path) -> None:
            proc = subprocess.run([cc, *flags, "-c", str(src), "-o", str(objdir / (src.stem + ".o"))],
                                  capture_output=True, text=True)
            if proc.returncode:
                raise ExportError(f"compiling {src.name} failed:\n{proc.stderr[:4000]}")

        with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
            list(pool.map(one, srcs))
        exe = out / "model_main"
        proc = subprocess.run([cc, *flags, "-o", str(exe), *[str(objdir / (s.stem + ".o")) for s in srcs], "-lm"],
                              capture_output=True, text=True)
        if proc.returncode:
            raise ExportError(f"linking the exported model failed:\n{proc.stderr[:4000]}")
        return exe
    finally:
        if not keep:
            shutil.rmtree(objdir, ignore_errors=True)


def run_folder(exe: Path, inputs: list[np.ndarray], out_shapes: list[tuple[int, ...]],
               out_dtypes: list[np.dtype] | None = None) -> list[np.ndarray]:
    """Run an exported model binary on arrays through raw files (each array's own element type, or float32;
    `out_dtypes`: the outputs', float32 by default)."""
    with tempfile.TemporaryDirectory(prefix="ep_export_run_") as tmp:
        in_paths = []
        for k, a in enumerate(inputs):
            p = os.path.join(tmp, f"in_{k}.bin")
            a = np.asarray(a)
            np.ascontiguousarray(a, dtype=a.dtype if a.dtype in IO_C_TYPES else np.float32).tofile(p)
            in_paths.append(p)
        out_paths = [os.path.join(tmp, f"out_{k}.bin") for k in range(len(out_shapes))]
        proc = subprocess.run([str(exe), *in_paths, *out_paths], capture_output=True, text=True)
        if proc.returncode:
            raise ExportError(f"the exported model failed (exit {proc.returncode}): {proc.stderr.strip()}")
        types = out_dtypes or [np.dtype(np.float32)] * len(out_shapes)
        return [np.fromfile(p, dtype=t).reshape(s) for p, s, t in zip(out_paths, out_shapes, types)]


def verify(model: str | os.PathLike | onnx.ModelProto, result: ExportResult, dims: dict[str, int] | None = None,
           seed: int = 0, extra_flags: list[str] | None = None, feed: dict[str, np.ndarray] | None = None
           ) -> tuple[float, float, list[np.ndarray], list[np.ndarray]]:
    """Build the folder, run it on `feed` (default: random inputs) and compare with the cpu provider.

    Random inputs are normal floats, integers in [0, 10) and random bools.
    Returns (largest absolute error, largest relative error, C outputs, cpu outputs)."""
    proto = model if isinstance(model, onnx.ModelProto) else onnx.load(os.fspath(model))
    _, sess = _optimized_graph(pin_dims(proto, dims or {}))
    rng = np.random.default_rng(seed)
    if feed is None:
        feed = {n: _random_input(rng, s, result.dtypes.get(n, np.dtype(np.float32))) for n, s in result.inputs}
    want = sess.run(None, feed)
    exe = build_folder(result.outdir, extra_flags)
    got = run_folder(exe, [feed[n] for n, _ in result.inputs], [s for _, s in result.outputs],
                     [result.dtypes.get(n, np.dtype(np.float32)) for n, _ in result.outputs])
    diffs = [np.abs(g.astype(np.float64) - np.asarray(w, dtype=np.float64)) for g, w in zip(got, want)]
    abs_err = max((float(np.max(d)) if d.size else 0.0) for d in diffs)
    rel_err = max((float(np.max(d / np.maximum(np.abs(np.asarray(w, dtype=np.float64)), 1e-30))) if d.size else 0.0)
                  for d, w in zip(diffs, want))
    return abs_err, rel_err, got, want


def _random_input(rng: np.random.Generator, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    if dtype == np.bool_:
        return rng.integers(0, 2, size=shape).astype(np.bool_)
    if dtype.kind in "iu":
        return rng.integers(0, 10, size=shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def _parse_kv(items: list[str], what: str, cast: Any) -> dict[str, Any]:
    res = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise SystemExit(f"{what} expects NAME=VALUE, got {item!r}")
        try:
            res[name] = cast(value)
        except ValueError:
            raise SystemExit(f"{what} expects NAME=VALUE, got {item!r}") from None
    return res


def cmd_export_c(args: argparse.Namespace) -> int:
    dims = _parse_kv(args.dim, "--dim", int)
    kernels = _parse_kv(args.kernel, "--kernel", str)
    result = export_model(args.model, args.output, dims, kernels)
    print(result.report())
    if args.verify:
        abs_err, rel_err, got, want = verify(args.model, result, dims)
        ok = all(np.allclose(g, w, rtol=args.rtol, atol=args.atol) for g, w in zip(got, want))
        print(f"verify: built and ran {result.outdir / 'model_main'}; largest abs error {abs_err:.3g}, "
              f"largest rel error {rel_err:.3g} vs the cpu provider: {'OK' if ok else 'MISMATCH'} "
              f"(rtol {args.rtol}, atol {args.atol})")
        return 0 if ok else 1
    return 0


def add_command(subparsers: Any) -> None:
    p = subparsers.add_parser("export-c", help="export a model as a standalone C99 folder (no malloc, static arena)")
    p.add_argument("model", help="path to an .onnx file")
    p.add_argument("-o", "--output", required=True, help="folder to write (created if missing)")
    p.add_argument("--dim", action="append", default=[], help="pin a symbolic input dim, NAME=INT (repeatable)")
    p.add_argument("--kernel", action="append", default=[], help="vendor kernel source, OP=FILE.c (repeatable)")
    p.add_argument("--verify", action="store_true",
                   help="build the folder, run it on random inputs and compare with the cpu provider")
    p.add_argument("--rtol", type=float, default=1e-4)
    p.add_argument("--atol", type=float, default=1e-5)
    p.set_defaults(fn=cmd_export_c)
