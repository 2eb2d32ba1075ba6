"""Control flow: If, Loop, Scan, SequenceMap. Body graphs are compiled once per node on the CPU provider.

A body runs through `SubgraphRunner(inputs, outer)`, which is also the cancellation checkpoint
of every iteration (RunOptions.terminate, the run timeout); scan outputs of Loop and Scan are the
per-iteration values stacked on a new axis. When a loop runs zero times, the empty scan output
takes its element shape and dtype from the body graph's declared output type.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import onnx

from ep_runtime.graph import Graph, Node
from ep_runtime.op_shapes import normalize_axis
from ep_runtime.provider import ExecutionProvider, Refusal
from ep_runtime.subgraph import SubgraphRunner, subgraph_refusal

from .provider import CPUExecutionProvider
from .registry import kernel


def bodies_supported(*attrs: str) -> Callable[[Node, Graph], Refusal | None]:
    """A `supports` check: every body graph named by `attrs` must run entirely on the CPU (control flow,
    FlexAttention's modifiers)."""

    def check(node: Node, graph: Graph) -> Refusal | None:
        provider = CPUExecutionProvider()
        for a in attrs:
            body = node.attrs.get(a)
            if isinstance(body, onnx.GraphProto):
                why = subgraph_refusal(provider, body, graph)
                if why is not None:
                    return why
        return None

    return check


def _scalar_bool(value: Any, op: str, what: str) -> bool:
    if type(value) is np.ndarray and value.size == 1:  # the usual case, without numpy's generic calls
        return bool(value)
    if np.size(value) != 1:
        raise ValueError(f"{op}: {what} must hold one element, got shape {np.shape(value)}")
    return bool(np.asarray(value).reshape(-1)[0])


def _empty_scan_output(runner: SubgraphRunner, name: str) -> np.ndarray:
    """A zero-iteration scan output: shape [0, *element shape] (0 for unknown dims)."""
    info = runner.graph.values.get(name)
    dtype = info.dtype if info is not None and info.dtype is not None else np.dtype(np.float32)
    shape = info.shape if info is not None and info.shape is not None else ()
    return np.zeros((0, *[d if isinstance(d, int) else 0 for d in shape]), dtype=dtype)


def _stack(values: list[Any], op: str, index: int) -> Any:
    """Per-iteration scan-output values joined on a new leading axis (sequences are concatenated)."""
    if isinstance(values[0], list):
        return [t for v in values for t in v]
    try:
        return np.stack(values)
    except ValueError:
        shapes = sorted({tuple(np.shape(v)) for v in values})
        raise ValueError(f"{op}: scan output {index} changes shape across iterations: {shapes}") from None


@kernel("If", since=1, factory=True, multi_output=True, supports=bodies_supported("then_branch", "else_branch"))
def If(*, then_branch: onnx.GraphProto, else_branch: onnx.GraphProto, _graph: Graph,
       _provider: ExecutionProvider, _node: Node):
    """If-1/11/13/16/19/21/23/24/25: run one branch on the outer-scope values it captures."""
    then_run = SubgraphRunner(then_branch, _graph, _provider, _node)
    else_run = SubgraphRunner(else_branch, _graph, _provider, _node)

    def run(cond: np.ndarray, *, _outer: dict[str, Any] | None = None) -> list[Any]:
        branch = then_run if _scalar_bool(cond, "If", "condition") else else_run
        return branch([], _outer or {})

    return run


@kernel("Loop", since=1, factory=True, multi_output=True, supports=bodies_supported("body"))
def Loop(*, body: onnx.GraphProto, _graph: Graph, _provider: ExecutionProvider, _num_outputs: int, _node: Node):
    """Loop-1/11/13/16/19/21/23/24/25: `for i in range(M) while cond`; M and cond are optional.

    Body: (i, cond, carried...) -> (cond, carried..., scan elements...). Outputs: the final
    carried values, then every scan output stacked over the iterations (sequence-valued scan
    elements are concatenated into one sequence)."""
    runner = SubgraphRunner(body, _graph, _provider, _node)
    n_body_in = len(runner.input_names)
    if n_body_in < 2:
        raise ValueError(f"Loop: the body must take (iteration, cond, ...), it has {n_body_in} inputs")
    n_carried = n_body_in - 2
    n_scan = len(runner.output_names) - 1 - n_carried
    if n_scan < 0:
        raise ValueError(f"Loop: the body has {len(runner.output_names)} outputs, expected at least "
                         f"{1 + n_carried} (cond and {n_carried} loop-carried values)")

    def run(m: np.ndarray | None = None, cond: np.ndarray | None = None, *initial: Any,
            _outer: dict[str, Any] | None = None) -> list[Any]:
        outer = _outer or {}
        if len(initial) > n_carried:
            raise ValueError(f"Loop: got {len(initial)} loop-carried inputs, the body takes {n_carried}")
        # trailing omitted ('') loop-carried inputs are not passed: they are empty optionals
        carried = list(initial) + [None] * (n_carried - len(initial))
        trips = None
        if m is not None:
            if np.size(m) != 1:
                raise ValueError(f"Loop: trip count M must hold one element, got shape {np.shape(m)}")
            trips = int(np.asarray(m).reshape(-1)[0])
        keep_going = True if cond is None else _scalar_bool(cond, "Loop", "cond")
        cond_value = np.array(keep_going)
        scans: list[list[Any]] = [[] for _ in range(n_scan)]
        i = 0
        while keep_going and (trips is None or i < trips):
            out = runner([np.array(i, dtype=np.int64), cond_value, *carried], outer)
            cond_value = out[0]
            carried = list(out[1:1 + n_carried])
            for k in range(n_scan):
                scans[k].append(out[1 + n_carried + k])
            keep_going = _scalar_bool(cond_value, "Loop", "the body's cond output")
            i += 1
        stacked = [_stack(s, "Loop", k) if s else _empty_scan_output(runner, runner.output_names[1 + n_carried + k])
                   for k, s in enumerate(scans)]
        return (carried + stacked)[:_num_outputs]

    return run


def _scan_loop(runner: SubgraphRunner, states: list[Any], scan_inputs: list[np.ndarray],
               in_axes: list[int], in_dirs: list[int], out_axes: list[int], out_dirs: list[int],
               outer: dict[str, Any], op: str) -> list[Any]:
    """One Scan over `scan_inputs` (already validated): final states, then the scan outputs."""
    n_states = len(states)
    n_out = len(runner.output_names) - n_states
    lengths = {x.shape[a] for x, a in zip(scan_inputs, in_axes)}
    if len(lengths) > 1:
        raise ValueError(f"{op}: scan inputs have different lengths {sorted(lengths)} along their scan axes")
    steps = lengths.pop() if lengths else 0
    per_step: list[list[np.ndarray]] = [[] for _ in range(n_out)]
    for t in range(steps):
        elems = [np.take(x, steps - 1 - t if d else t, axis=a) for x, a, d in zip(scan_inputs, in_axes, in_dirs)]
        out = runner([*states, *elems], outer)
        states = list(out[:n_states])
        for k in range(n_out):
            per_step[k].append(out[n_states + k])
    results = list(states)
    for k in range(n_out):
        name = runner.output_names[n_states + k]
        if not per_step[k]:
            y = _empty_scan_output(runner, name)
        else:
            y = _stack(per_step[k][::-1] if out_dirs[k] else per_step[k], op, k)
        axis = normalize_axis(out_axes[k], y.ndim, op)
        results.append(np.moveaxis(y, 0, axis) if axis else y)
    return results


def _scan_attrs(values: list[int] | None, n: int, what: str, default: int = 0) -> list[int]:
    if values is None:
        return [default] * n
    if len(values) != n:
        raise ValueError(f"Scan: {what} has {len(values)} entries, expected {n}")
    return list(values)


def _scan_body(body: onnx.GraphProto, num_scan_inputs: int, graph: Graph, provider: ExecutionProvider,
               node: Node) -> tuple[SubgraphRunner, int, int]:
    """The compiled Scan body, its number of state variables and of scan outputs."""
    runner = SubgraphRunner(body, graph, provider, node)
    n_states = len(runner.input_names) - num_scan_inputs
    n_out = len(runner.output_names) - n_states
    if n_states < 0 or n_out < 0:
        raise ValueError(f"Scan: num_scan_inputs={num_scan_inputs} does not fit a body with "
                         f"{len(runner.input_names)} inputs and {len(runner.output_names)} outputs")
    return runner, n_states, n_out


@kernel("Scan", since=9, factory=True, multi_output=True, supports=bodies_supported("body"))
def Scan(*, body: onnx.GraphProto, num_scan_inputs: int, scan_input_axes: list[int] | None = None,
         scan_input_directions: list[int] | None = None, scan_output_axes: list[int] | None = None,
         scan_output_directions: list[int] | None = None, _graph: Graph, _provider: ExecutionProvider,
         _node: Node):
    """Scan-9/11/16/19/21/23/24/25: iterate the body over slices of the scan inputs along their
    scan axes (reversed where the direction is 1), carrying the state variables."""
    runner, n_states, n_out = _scan_body(body, num_scan_inputs, _graph, _provider, _node)
    in_dirs = _scan_attrs(scan_input_directions, num_scan_inputs, "scan_input_directions")
    out_dirs = _scan_attrs(scan_output_directions, n_out, "scan_output_directions")
    in_axes_attr = _scan_attrs(scan_input_axes, num_scan_inputs, "scan_input_axes")
    out_axes = _scan_attrs(scan_output_axes, n_out, "scan_output_axes")

    def run(*inputs: Any, _outer: dict[str, Any] | None = None) -> list[Any]:
        if len(inputs) != n_states + num_scan_inputs:
            raise ValueError(f"Scan: got {len(inputs)} inputs, the body takes {n_states} states and "
                             f"{num_scan_inputs} scan inputs")
        scan_inputs = [np.asarray(x) for x in inputs[n_states:]]
        in_axes = [normalize_axis(a, x.ndim, "Scan") for a, x in zip(in_axes_attr, scan_inputs)]
        return _scan_loop(runner, list(inputs[:n_states]), scan_inputs, in_axes, in_dirs, out_axes, out_dirs,
                          _outer or {}, "Scan")

    return run


@kernel("Scan", since=8, until=8, factory=True, multi_output=True, supports=bodies_supported("body"))
def Scan_8(*, body: onnx.GraphProto, num_scan_inputs: int, directions: list[int] | None = None,
           _graph: Graph, _provider: ExecutionProvider, _node: Node):
    """Scan-8: batch axis 0, scan axis 1, an optional first input `sequence_lens` [batch]; the
    scan outputs of a shorter sequence are padded with zeros to the longest one."""
    runner, n_states, n_out = _scan_body(body, num_scan_inputs, _graph, _provider, _node)
    in_dirs = _scan_attrs(directions, num_scan_inputs, "directions")

    def run(sequence_lens: np.ndarray | None, *inputs: Any, _outer: dict[str, Any] | None = None) -> list[Any]:
        if len(inputs) != n_states + num_scan_inputs:
            raise ValueError(f"Scan: got {len(inputs)} inputs after sequence_lens, the body takes "
                             f"{n_states} states and {num_scan_inputs} scan inputs")
        states = [np.asarray(s) for s in inputs[:n_states]]
        scans = [np.asarray(x) for x in inputs[n_states:]]
        for x in [*states, *scans]:
            if x.ndim < 1 or x.shape[0] != (states or scans)[0].shape[0]:
                raise ValueError("Scan: every state and scan input needs the same batch size on axis 0")
        for x in scans:
            if x.ndim < 2:
                raise ValueError(f"Scan: a scan input must be [batch, sequence, ...], got shape {x.shape}")
        batch = (states or scans)[0].shape[0]
        max_len = scans[0].shape[1] if scans else 0
        lens = [max_len] * batch if sequence_lens is None else [int(v) for v in np.asarray(sequence_lens).ravel()]
        if len(lens) != batch or any(not 0 <= n <= max_len for n in lens):
            raise ValueError(f"Scan: sequence_lens {lens} must have {batch} entries in [0, {max_len}]")
        per_batch = []
        for b in range(batch):
            xs = [x[b, :lens[b]] for x in scans]
            per_batch.append(_scan_loop(runner, [s[b] for s in states], xs, [0] * len(xs), in_dirs,
                                        [0] * n_out, [0] * n_out, _outer or {}, "Scan"))
        results = [np.stack([r[k] for r in per_batch]) for k in range(n_states)]
        for k in range(n_out):
            ys = [r[n_states + k] for r in per_batch]
            full = max_len
            ys = [np.concatenate([y, np.zeros((full - y.shape[0], *y.shape[1:]), y.dtype)]) if y.shape[0] < full
                  else y for y in ys]
            results.append(np.stack(ys))
        return results

    return run


@kernel("SequenceMap", since=17, factory=True, multi_output=True, supports=bodies_supported("body"))
def SequenceMap(*, body: onnx.GraphProto, _graph: Graph, _provider: ExecutionProvider, _node: Node):
    """SequenceMap-17: run the body on the i-th element of every sequence input (tensor inputs
    are passed whole each time); every body output becomes a sequence."""
    runner = SubgraphRunner(body, _graph, _provider, _node)

    def run(seq: list, *extra: Any, _outer: dict[str, Any] | None = None) -> list[list[Any]]:
        if not isinstance(seq, list):
            raise ValueError(f"SequenceMap: the first input must be a sequence, got {type(seq).__name__}")
        n = len(seq)
        for k, e in enumerate(extra):
            if isinstance(e, list) and len(e) != n:
                raise ValueError(f"SequenceMap: additional input {k} is a sequence of length {len(e)}, "
                                 f"the input sequence has length {n}")
        outs: list[list[Any]] = [[] for _ in runner.output_names]
        for i in range(n):
            args = [seq[i], *(e[i] if isinstance(e, list) else e for e in extra)]
            for acc, value in zip(outs, runner(args, _outer or {})):
                acc.append(value)
        return outs

    return run
