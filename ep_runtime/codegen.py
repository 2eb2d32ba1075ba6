"""Turns a list of steps over named values into one straight-line Python function.

The function keeps values in local variables and deletes each one right after its last
use, so intermediates are freed as early as possible, every call has its own values
(safe from several threads), and the per-node cost is a single Python call.
"""

from __future__ import annotations

import itertools
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import CodeType
from typing import Any, Protocol

import numpy as np

from .errors import EPRuntimeError, KernelError

_counter = itertools.count()
#: compiled code of small plans by source text: the subgraphs of one graph often generate the same
#: text (a long chain alternating between providers generates thousands of one-step plans)
_code_cache: dict[str, CodeType] = {}
_CACHED_SOURCE_CHARS = 2000
_CACHED_PLANS = 256


@dataclass(frozen=True)
class Const:
    """An argument that is a fixed value bound at compile time."""

    value: Any


@dataclass(frozen=True)
class Convert:
    """An argument that is a named value passed through a conversion (e.g. device -> host)."""

    name: str
    fn: Callable[[Any], Any]


Arg = str | Const | Convert | None


@dataclass
class Step:
    """One call: `fn(*args, [_outer={...}])` producing `outputs` ("" for an unused output).

    With `multi_output` the function returns a sequence, else the single output value.
    `outer` maps names to arguments passed as the `_outer` dict (a control-flow node's
    outer scope).
    """

    fn: Callable[..., Any]
    args: list[Arg]
    outputs: list[str]
    multi_output: bool = False
    label: str = ""
    outer: dict[str, Arg] = field(default_factory=dict)
    #: the op the step runs (its node's op_type; "" for copies and subgraph calls), for KernelError.op_type
    op_type: str = ""
    #: `fn`'s in-place variant (overwrites input 0 and returns it, or returns None untouched when it cannot),
    #: called instead of `fn` when input 0 is a plan-made value read last here that nothing else holds
    inplace: Callable[..., Any] | None = None

    const = staticmethod(Const)
    convert = staticmethod(Convert)


class Profiler(Protocol):
    """Receives one record per executed step when profiling is on."""

    def record(self, label: str, seconds: float) -> None: ...


def compile_steps(
    steps: Sequence[Step],
    inputs: Sequence[str],
    outputs: Sequence[str],
    *,
    provider: str = "",
    profiler: Profiler | None = None,
    synchronize: Callable[[], None] | None = None,
) -> Callable[..., tuple]:
    """Build `f(*inputs) -> tuple(outputs)` that runs `steps` in order.

    An exception raised by a step's function becomes a KernelError naming the step's label
    (the node) and `provider`; EPRuntimeErrors pass through unchanged. When profiling, each
    step is timed; `synchronize` (a device provider's wait for queued work) is called before a
    step's time is taken, so asynchronous devices report device time, not launch time.
    """
    local: dict[str, str] = {}

    def var(name: str) -> str:
        if name not in local:
            local[name] = f"v{len(local)}"
        return local[name]

    params = [var(n) for n in inputs]
    last_use: dict[str, int] = {}
    for k, st in enumerate(steps):
        for a in [*st.args, *st.outer.values()]:
            name = a if isinstance(a, str) else a.name if isinstance(a, Convert) else None
            if name:
                last_use[name] = k
    keep = set(outputs)
    outside = keep | set(inputs)
    freed_after: dict[int, list[str]] = {}
    for name, last in last_use.items():
        if name not in keep:
            freed_after.setdefault(last, []).append(name)
    defined = set(inputs)
    env: dict[str, Any] = {"_fail": None}
    lines = [f"def _run({', '.join(params)}):", "    try:"]
    step_of_line: dict[int, int] = {}
    for k, st in enumerate(steps):
        arg_src = [_expr(a, f"{k}_{j}", env, defined, st, var) for j, a in enumerate(st.args)]
        if st.outer:
            pairs = ", ".join(f"{n!r}: {_expr(a, f'{k}_o{j}', env, defined, st, var)}"
                              for j, (n, a) in enumerate(st.outer.items()))
            arg_src.append(f"_outer={{{pairs}}}")
        env[f"f{k}"] = _inplace_or(st.fn, st.inplace) if _may_overwrite(st, k, last_use, outside) else st.fn
        call = f"f{k}({', '.join(arg_src)})"
        outs = [o for o in st.outputs]
        body: list[str] = []
        used = [(j, o) for j, o in enumerate(outs) if o]
        if st.multi_output and len(used) == 1:
            body.append(f"{var(used[0][1])} = {call}[{used[0][0]}]")
        elif st.multi_output and used:
            body.append(f"_r = {call}")
            body.append(", ".join(var(o) for _, o in used) + " = " + ", ".join(f"_r[{j}]" for j, _ in used))
            body.append("del _r")
        elif outs and outs[0]:
            body.append(f"{var(outs[0])} = {call}")
        else:
            body.append(call)
        defined.update(o for o in outs if o)
        if profiler is not None:
            env[f"L{k}"] = st.label
            body = ["_t = _pc()"] + body + (["_sync()"] if synchronize else []) + [f"_rec(L{k}, _pc() - _t)"]
        dead = [n for n in freed_after.get(k, ()) if n in local]
        dead += [o for o in outs if o and o not in last_use and o not in keep]
        for b in body:
            step_of_line[len(lines) + 1] = k
            lines.append("        " + b)
        if dead:
            lines.append("        del " + ", ".join(var(n) for n in dict.fromkeys(dead)))
    missing = [o for o in outputs if o not in defined]
    if missing:
        raise EPRuntimeError(f"plan for {provider or 'graph'} never produces {missing}")
    ret = ", ".join(var(o) for o in outputs)
    lines.append(f"        return ({ret}{',' if len(outputs) == 1 else ''})")
    lines.append("    except Exception as _e:")
    lines.append("        _fail(_e)")
    lines.append("        raise")
    filename = f"<ep_runtime plan {next(_counter)} {provider}>"
    code = _compile("\n".join(lines), filename)
    labels = [st.label for st in steps]
    op_types = [st.op_type for st in steps]

    def fail(exc: Exception) -> None:
        if isinstance(exc, EPRuntimeError):
            return
        tb = exc.__traceback__
        k = None
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == filename:
                k = step_of_line.get(tb.tb_lineno)
            tb = tb.tb_next
        where = f"node {labels[k]}" if k is not None else "a step"
        prov = f" on {provider}" if provider else ""
        raise KernelError(
            f"{where} failed{prov}: {type(exc).__name__}: {exc}",
            node=labels[k] if k is not None else "", op_type=op_types[k] if k is not None else "", provider=provider,
        ) from exc

    env["_fail"] = fail
    if profiler is not None:
        env["_pc"] = time.perf_counter
        env["_rec"] = profiler.record
        env["_sync"] = synchronize
    exec(code, env)
    return env["_run"]


def _may_overwrite(step: Step, k: int, last_use: dict[str, int], outside: set[str]) -> bool:
    """Whether step `k` may run in place: it has a variant and its input 0 is a value made inside the plan
    (not a plan input or output), read for the last time by this step and only once in it."""
    if step.inplace is None or not step.args or not isinstance(first := step.args[0], str):
        return False
    names = [a if isinstance(a, str) else a.name if isinstance(a, Convert) else None
             for a in [*step.args, *step.outer.values()]]
    return first not in outside and last_use.get(first) == k and names.count(first) == 1


def _held_refs(x: Any, *rest: Any) -> int:
    return sys.getrefcount(x)


def _plan_local_refs() -> int:
    """sys.getrefcount of an array held only by a plan's local variable, seen inside the function it is
    passed to (the interpreter's count for `v = ...; f(v)`, measured rather than assumed)."""
    env: dict[str, Any] = {"_held": _held_refs, "_new": np.empty}
    exec(compile("def _probe():\n    v0 = _new(1)\n    return _held(v0)\n", "<ep_runtime plan>", "exec"), env)
    return env["_probe"]()


_PLAN_LOCAL_REFS = _plan_local_refs()


def _inplace_or(fn: Callable[..., Any], inplace: Callable[..., Any]) -> Callable[..., Any]:
    """`fn` that runs `inplace` instead when input 0 is safe to overwrite: a writable float numpy array owning
    its data (no view of another array) that no one but the plan holds (no view of it, no caller's reference)."""

    def run(x: Any, *rest: Any) -> Any:
        if (type(x) is np.ndarray and x.base is None and x.dtype.kind == "f" and x.flags.writeable
                and sys.getrefcount(x) <= _PLAN_LOCAL_REFS):
            y = inplace(x, *rest)
            if y is not None:
                return y
        return fn(x, *rest)

    run.__name__ = run.__qualname__ = getattr(fn, "__name__", "kernel")
    return run


def _compile(source: str, filename: str) -> CodeType:
    """compile() the plan's source; small plans reuse the code of an earlier plan with the same text."""
    if len(source) > _CACHED_SOURCE_CHARS:
        return compile(source, filename, "exec")
    code = _code_cache.get(source)
    if code is None:
        if len(_code_cache) >= _CACHED_PLANS:
            _code_cache.clear()
        code = _code_cache[source] = compile(source, "<ep_runtime plan>", "exec")
    return _renamed(code, filename)


def _renamed(code: CodeType, filename: str) -> CodeType:
    """`code` and the code objects nested in it, with `filename` (which names the plan in errors)."""
    consts = tuple(_renamed(c, filename) if isinstance(c, CodeType) else c for c in code.co_consts)
    return code.replace(co_filename=filename, co_consts=consts)


def _expr(a: Arg, key: str, env: dict[str, Any], defined: set[str], step: Step, var: Callable[[str], str]) -> str:
    """Source text of one argument; constants and conversion functions go into `env`."""
    if a is None:
        return "None"
    if isinstance(a, Const):
        env[f"c{key}"] = a.value
        return f"c{key}"
    if isinstance(a, Convert):
        env[f"x{key}"] = a.fn
        return f"x{key}({_use(a.name, defined, step, var)})"
    return _use(a, defined, step, var)


def _use(name: str, defined: set[str], step: Step, var: Callable[[str], str]) -> str:
    if name not in defined:
        raise EPRuntimeError(f"node {step.label} reads {name!r} before it is produced")
    return var(name)
