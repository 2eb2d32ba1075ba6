"""C generation shared by the fused mode and the standalone export: arena planning by liveness
and straight-line calls into the operator library. Model names never reach the C text except
through `comment()`, which keeps only harmless characters."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .calls import Call, walk

#: arena offsets are multiples of this many bytes
ALIGN = 64
#: node calls per generated C function before `emit_functions` splits it into parts
MAX_CALLS_PER_FUNCTION = 100


def comment(text: str, limit: int = 60) -> str:
    """`text` made safe for a C block comment: letters, digits and `_ . - : /` only (no `*`, `?`, `\\`)."""
    safe = re.sub(r"[^A-Za-z0-9_.:/-]", "_", text)
    safe = safe.replace("//", "/_")
    return safe[:limit]


def c_float(v: float) -> str:
    """A C float literal that reads back as exactly the float32 of `v`."""
    if math.isnan(v):
        return "NAN"
    if math.isinf(v):
        return "INFINITY" if v > 0 else "-INFINITY"
    s = float(np.float32(v)).hex()
    mant, _, exp = s.partition("p")
    if "." in mant:
        mant = mant.rstrip("0").rstrip(".")
    return f"{mant}p{exp}f"


#: bytes per string literal of `byte_rows` (C99 compilers need accept only 4095 characters in one)
ROW_BYTES = 2048
_HEX_ESCAPES = np.frombuffer(b"".join(b"\\x%02x" % i for i in range(256)), dtype=np.uint32)


def byte_rows(data: bytes) -> str:
    """`data` as the initializer of an `unsigned char [rows][ROW_BYTES]` array: one string literal of
    `\\xHH` escapes per row, separated by commas and newlines (the last row zero-padded by C).

    Compilers read a string literal far faster than a list of numbers (a 16 MiB table: under a
    second, where the same floats as decimal literals take minutes)."""
    raw = np.frombuffer(data, dtype=np.uint8)
    if raw.size == 0:
        return '""'
    rows = -(-raw.size // ROW_BYTES)
    padded = np.zeros(rows * ROW_BYTES, dtype=np.uint8)
    padded[:raw.size] = raw
    escaped = _HEX_ESCAPES[padded].view(np.uint8).reshape(rows, 4 * ROW_BYTES)
    lines = np.empty((rows, 4 * ROW_BYTES + 4), dtype=np.uint8)
    lines[:, 0] = ord('"')
    lines[:, 1:-3] = escaped
    lines[:, -3:] = np.frombuffer(b'",\n', dtype=np.uint8)
    text = lines.tobytes().decode("ascii")[:-2]  # no comma after the last row
    last = raw.size - (rows - 1) * ROW_BYTES
    if last < ROW_BYTES:  # the padding of the last row is not written: C zero-fills it
        text = text[:len(text) - 1 - 4 * (ROW_BYTES - last)] + '"'
    return text


@dataclass
class ArenaPlan:
    """Offsets (in bytes) of intermediates and per-call scratch inside one arena, and its size in bytes.

    `scratch` is keyed by step (the position in `calls.flatten`'s order)."""

    offsets: dict[str, int] = field(default_factory=dict)
    scratch: dict[int, int] = field(default_factory=dict)
    size: int = 0
    #: sum of all intermediate sizes in bytes (what a malloc-per-tensor runtime would hold at worst)
    total_intermediate: int = 0
    lifetimes: dict[str, tuple[int, int]] = field(default_factory=dict)


#: calls per time bucket of plan_arena's index of placed blocks
_TIME_BUCKET = 32


def _align(n: int) -> int:
    return -(-n // ALIGN) * ALIGN


def plan_arena(calls: list[Call], intermediates: set[str], sizes: dict[str, int]) -> ArenaPlan:
    """Place intermediates and scratch so that two share memory only when their lifetimes do not overlap.

    `sizes` are in bytes (a uint8 value takes a quarter of a float32 one of its shape); call k's
    scratch is `4 * scratch` bytes (floats). Each block starts at a multiple of `ALIGN` bytes.
    A value lives from the first call producing it (both branches of an If write its outputs) to
    its last consumer; call k's scratch lives during call k only, k counting the calls of If
    branches in `calls.flatten`'s order. Greedy best-fit, largest first. A copy (`ep_identity`:
    Reshape, Flatten, Squeeze, ...) whose input dies at it writes in place: its output takes the
    input's block (see `_in_place_copies`).
    """
    life: dict[object, tuple[int, int]] = {}
    need: dict[object, int] = {}
    for k, c in enumerate(walk(calls)):
        for o in c.outputs:
            if o in intermediates:
                life[o] = (life[o][0], k) if o in life else (k, k)
                need[o] = sizes[o]
        for i in c.inputs:
            if i in life:
                life[i] = (life[i][0], k)
        if c.scratch:
            life[("scratch", k)] = (k, k)
            need[("scratch", k)] = 4 * c.scratch
    total = sum(v for k, v in need.items() if not isinstance(k, tuple))
    own = dict(life)
    alias = _in_place_copies(calls, life, need)
    for o, root in alias.items():
        life[root] = (min(life[root][0], life[o][0]), max(life[root][1], life[o][1]))
        del need[o]
    plan = ArenaPlan()
    placed: list[tuple[int, int, int, int]] = []  # offset, size, start, end
    # placed blocks indexed by the time buckets their lifetimes touch, so that finding the blocks
    # alive alongside a value looks at its neighbours in time, not at every block placed so far
    by_time: dict[int, list[int]] = {}
    for key in sorted(need, key=lambda x: (-need[x], life[x][0])):
        size = _align(max(need[key], 1))
        s, e = life[key]
        near = {j for b in range(s // _TIME_BUCKET, e // _TIME_BUCKET + 1) for j in by_time.get(b, ())}
        busy = sorted((placed[j][0], placed[j][1]) for j in near if not (placed[j][3] < s or e < placed[j][2]))
        off = 0
        for boff, bsz in busy:
            if off + size <= boff:
                break
            off = max(off, boff + bsz)
        for b in range(s // _TIME_BUCKET, e // _TIME_BUCKET + 1):
            by_time.setdefault(b, []).append(len(placed))
        placed.append((off, size, s, e))
        plan.size = max(plan.size, off + size)
        if isinstance(key, tuple):
            plan.scratch[key[1]] = off
        else:
            plan.offsets[key] = off
    for o, root in alias.items():
        plan.offsets[o] = plan.offsets[root]
    plan.lifetimes = {k: v for k, v in own.items() if isinstance(k, str)}
    plan.total_intermediate = total
    return plan


def _in_place_copies(calls: list[Call], life: dict[object, tuple[int, int]], need: dict[object, int]) -> dict[str, str]:
    """Intermediates an `ep_identity` call copies from another that it is the last reader of (same byte
    size, each written by one call only), mapped to the value whose block they share (the first of a
    chain of such copies). Sharing the block turns the copy into a no-op (identity.c skips it)."""
    writers: dict[str, int] = {}
    for c in walk(calls):
        for o in c.outputs:
            writers[o] = writers.get(o, 0) + 1
    alias: dict[str, str] = {}
    for k, c in enumerate(walk(calls)):
        if c.func != "ep_identity" or len(c.inputs) != 1 or len(c.outputs) != 1:
            continue
        i, o = c.inputs[0], c.outputs[0]
        if (i in need and o in need and i != o and life[i][1] == k and need[o] == need[i]
                and writers.get(i) == 1 and writers.get(o) == 1):
            alias[o] = alias.get(i, i)
    return alias


#: C macro of each element type code (csrc/ep_tensor.h)
_C_DTYPE_NAMES = {1: "EP_FLOAT32", 2: "EP_UINT8", 3: "EP_INT8", 6: "EP_INT32", 7: "EP_INT64", 9: "EP_BOOL"}


def emit_body(calls: list[Call], labels: list[str], shapes: dict[str, tuple[int, ...]],
              locate: Callable[[str], str], scratch_expr: Callable[[int], str], indent: str = "    ",
              first: int = 0, dtypes: dict[str, int] | None = None) -> list[str]:
    """Declarations of one descriptor per value and one checked call per node, as C lines.

    `calls` are steps `first`, `first + 1`, ... of the whole sequence (an If's branches count their
    calls, `calls.flatten`): that number is what a failing call returns (`16 * (step + 1) + rc`)
    and what `scratch_expr` receives. `dtypes` gives the C element type of values that are not
    float32. An If becomes `ep_if_cond` on its condition, then `if (taken) {...} else {...}`.
    """
    ids: dict[str, int] = {}
    decls: list[str] = []
    for c in walk(calls):
        for name in c.inputs + c.outputs + [v for kind, v in c.args if kind == "t" and v]:
            if name in ids:
                continue
            k = ids[name] = len(ids)
            shape = shapes[name]
            dims = ", ".join(f"{d}" for d in shape) or "1"
            decls.append(f"{indent}static const int64_t d{k}[] = {{{dims}}};")
            dtype = _C_DTYPE_NAMES[(dtypes or {}).get(name, 1)]
            decls.append(f"{indent}ep_tensor t{k} = ep_make_tensor((void *)({locate(name)}), {dtype}, "
                         f"{len(shape)}, d{k});")
    lines = [f"{indent}int rc;"] + decls
    _emit_calls(lines, calls, labels, ids, scratch_expr, indent, first)
    return lines


def _emit_calls(lines: list[str], calls: list[Call], labels: list[str], ids: dict[str, int],
                scratch_expr: Callable[[int], str], indent: str, step: int) -> int:
    """Append the checked calls of `calls` (steps from `step` on) to `lines`; return the next step."""
    for c, label in zip(calls, labels):
        k = step
        lines.append(f"{indent}/* {k}: {comment(label)} */")
        if c.branches:
            then, other = c.branches
            cond = _c_args(c, ids, scratch_expr, k)[0]
            lines += [f"{indent}{{", f"{indent}    int taken{k};", f"{indent}    rc = {c.func}({cond}, &taken{k});",
                      f"{indent}    if (rc != EP_OK) {{", f"{indent}        return {k + 1} * 16 + rc;",
                      f"{indent}    }}", f"{indent}    if (taken{k}) {{"]
            step = _emit_calls(lines, then.calls, [n.label for n in then.nodes], ids, scratch_expr,
                               indent + "        ", step + 1)
            lines.append(f"{indent}    }} else {{")
            step = _emit_calls(lines, other.calls, [n.label for n in other.nodes], ids, scratch_expr,
                               indent + "        ", step)
            lines += [f"{indent}    }}", f"{indent}}}"]
            continue
        lines.append(f"{indent}rc = {c.func}({', '.join(_c_args(c, ids, scratch_expr, k))});")
        lines.append(f"{indent}if (rc != EP_OK) {{")
        lines.append(f"{indent}    return {k + 1} * 16 + rc;")
        lines.append(f"{indent}}}")
        step += 1
    return step


def _c_args(c: Call, ids: dict[str, int], scratch_expr: Callable[[int], str], k: int) -> list[str]:
    """The C argument expressions of call `c` (step `k`)."""
    args = []
    for kind, v in c.args:
        if kind == "t":
            args.append("NULL" if v is None else f"&t{ids[v]}")
        elif kind == "ts":
            args.append("(const ep_tensor *const[]){" + ", ".join(f"&t{ids[n]}" for n in v) + "}")
            args.append(str(len(v)))
        elif kind in ("i32", "i64"):
            args.append(f"{int(v)}")
        elif kind == "f32":
            args.append(c_float(v))
        elif kind in ("i64s", "f32s") and v is None:
            args.append("NULL")
        elif kind == "i64s":
            args.append("(const int64_t[]){" + ", ".join(str(int(x)) for x in v) + "}")
        elif kind == "f32s":
            args.append("(const float[]){" + ", ".join(c_float(float(x)) for x in v) + "}")
        elif kind == "conv":
            args.append("&(const ep_conv_params){" + f"{v['group']}, " + _struct_arrays(v) + "}")
        elif kind == "pool":
            args.append("&(const ep_pool_params){" + _struct_arrays(v) + f", {v['count_include_pad']}}}")
        elif kind == "scratch":
            args.append(scratch_expr(k) if c.scratch else "NULL")
        else:
            raise ValueError(kind)
    return args


def emit_functions(calls: list[Call], labels: list[str], shapes: dict[str, tuple[int, ...]],
                   locate: Callable[[str], str], scratch_expr: Callable[[int], str], name: str,
                   params: str, max_calls: int | None = None, dtypes: dict[str, int] | None = None) -> list[str]:
    """The definition of `int name(params)` running `calls` in order, as C lines.

    The C compiler's optimiser takes time superlinear in a function's size (a 2,000-call function
    took 30 s), so a sequence longer than `max_calls` (default `MAX_CALLS_PER_FUNCTION`) becomes
    parts `name_part0`, `name_part1`, ... of at most `max_calls` calls each, every one taking the
    same parameters (the buffers and the arena are shared), called in order by `name`. The parts
    are not inlined back (external linkage, `noinline` where the compiler knows it), and each
    declares only the descriptors of the values it touches, so the generated text stays linear.
    `params` is the parameter list, e.g. `"void *const *io, float *arena"`.
    """
    limit = max_calls or MAX_CALLS_PER_FUNCTION
    steps = [len(walk([c])) for c in calls]
    if sum(steps) <= limit:
        return [f"int {name}({params});", "", f"int {name}({params})", "{",
                *emit_body(calls, labels, shapes, locate, scratch_expr, dtypes=dtypes), "    return EP_OK;", "}"]
    pass_on = "" if params.strip() in ("", "void") else ", ".join(_param_name(p) for p in params.split(","))
    lines = ["#if defined(__GNUC__)", "#define EP_PART __attribute__((noinline))", "#else", "#define EP_PART",
             "#endif", ""]
    parts = []
    for start, stop in _chunks(steps, limit):
        part = f"{name}_part{len(parts)}"
        parts.append(part)
        lines += [f"EP_PART int {part}({params});", f"EP_PART int {part}({params})", "{",
                  *emit_body(calls[start:stop], labels[start:stop], shapes, locate, scratch_expr,
                             first=sum(steps[:start]), dtypes=dtypes),
                  "    return EP_OK;", "}", ""]
    lines += [f"int {name}({params});", "", f"int {name}({params})", "{", "    int rc;"]
    for part in parts:
        lines += [f"    rc = {part}({pass_on});", "    if (rc != EP_OK) {", "        return rc;", "    }"]
    lines += ["    return EP_OK;", "}"]
    return lines


def _chunks(steps: list[int], limit: int) -> list[tuple[int, int]]:
    """(start, stop) runs of calls holding at most `limit` steps each (an If alone may hold more)."""
    runs, start, held = [], 0, 0
    for k, n in enumerate(steps):
        if held and held + n > limit:
            runs.append((start, k))
            start, held = k, 0
        held += n
    runs.append((start, len(steps)))
    return runs


def _param_name(param: str) -> str:
    """`arena` of `float *arena`: the identifier a C parameter declaration ends with."""
    match = re.search(r"([A-Za-z_][A-Za-z0-9_]*)\s*$", param)
    if match is None:
        raise ValueError(f"not a C parameter declaration: {param!r}")
    return match.group(1)


def _struct_arrays(v: dict) -> str:
    return ", ".join("{" + ", ".join(str(int(x)) for x in v[key]) + "}"
                     for key in ("kernel", "strides", "pads", "dilations"))


def includes(calls: list[Call]) -> list[str]:
    """The #include lines of generated C calling `calls` (If branches included)."""
    heads = sorted({c.source for c in walk(calls) if c.source})
    return ["#include <math.h>", "#include <stddef.h>", "#include <stdint.h>", "", '#include "ep_tensor.h"'] + [
        f'#include "{h}.h"' for h in heads]
