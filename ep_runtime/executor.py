"""The executor: compiles each subgraph on its provider and joins them with the planned copies.

The top-level plan is itself a straight-line function (see codegen): per run it makes the copies
the partition planned (`Partition.copies`, or `plan_copies` for inputs and outputs bound on a device),
calls the subgraphs in order, frees every value after its last use and returns the graph outputs.
The executor decides no copy itself: what `Partition.explain()` lists is what runs.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .codegen import Const, Step, compile_steps
from .errors import EPRuntimeError, KernelError, ProviderError
from .graph import Graph, SubGraph
from .partition import ANY, Copy, Partition, plan_copies
from .profiling import Profiler, ProfileScope, timed
from .provider import HOST, CompileOptions, ExecutionProvider, compile_subgraph, direct_copier
from .registry import is_reference_provider
from .run_options import check_cancelled


def build_plan(
    graph: Graph,
    part: Partition,
    providers: Sequence[ExecutionProvider],
    profiler: Profiler | None = None,
    optimization_level: int = 99,
) -> Callable[..., tuple]:
    """Compile every subgraph and return `f(*graph inputs) -> tuple(graph outputs as host arrays)`.

    `optimization_level` (the session's) tells providers whether they may fuse nodes."""
    return assemble_plan(graph, part, providers, compile_subgraphs(part, providers, profiler, optimization_level),
                         profiler=profiler)


def compile_subgraphs(
    part: Partition,
    providers: Sequence[ExecutionProvider],
    profiler: Profiler | None = None,
    optimization_level: int = 99,
) -> list[Callable[..., tuple]]:
    """Compile each subgraph of `part` on its provider, with CompileOptions of the session's level (and, when
    profiling, a profile scope naming provider and subgraph; body graphs compiled meanwhile nest under their
    node). Results of providers other than the reference CPU provider are checked against the graph
    (checked_outputs)."""
    by_name = {p.name: p for p in providers}
    compiled = []
    for sg in part.subgraphs:
        prov = by_name[sg.provider]
        scope = ProfileScope(profiler, prov.name, sg.index, sg.nodes) if profiler is not None else None
        try:
            fn = compile_subgraph(prov, sg, CompileOptions(optimization_level, scope))
        except Exception as exc:
            raise ProviderError(
                f"provider {prov.name} failed to compile subgraph {sg.index} "
                f"({len(sg.nodes)} nodes, first {sg.nodes[0].label}): {type(exc).__name__}: {exc}"
            ) from exc
        if not is_reference_provider(prov):
            fn = checked_outputs(fn, sg, prov)
        compiled.append(fn)
    return compiled


def assemble_plan(
    graph: Graph,
    part: Partition,
    providers: Sequence[ExecutionProvider],
    compiled: Sequence[Callable[..., tuple]],
    input_homes: dict[str, str] | None = None,
    output_homes: dict[str, str] | None = None,
    profiler: Profiler | None = None,
) -> Callable[..., tuple]:
    """Join the compiled subgraphs with device copies into `f(*graph inputs) -> tuple(graph outputs)`.

    The copies are the partition's (`part.copies`): graph inputs arrive on the host and outputs leave on
    it. With `input_homes` (inputs already on a provider's device, e.g. bound OrtValues) or `output_homes`
    (outputs wanted on a device), the same planner (`plan_copies`) plans them for those homes. With a
    profiler, every subgraph call and every copy is an event."""
    by_name = {p.name: p for p in providers}
    by_device: dict[str, ExecutionProvider] = {}
    for p in providers:
        by_device.setdefault(p.device, p)
    if input_homes or output_homes:
        copies = plan_copies(graph, part.subgraphs, part.placement, providers, input_homes, output_homes)
    else:
        copies = part.copies
    copies_before: dict[int, list[Copy]] = defaultdict(list)
    for c in copies:
        copies_before[c.before_subgraph].append(c)
    home: dict[str, str] = dict(input_homes or {})
    steps: list[Step] = []
    made: dict[tuple[str, str], str] = {}
    direct_fns: dict[tuple[str, str], Callable[[Any], Any]] = {}

    def copy_steps(before: int) -> None:
        for c in copies_before.get(before, ()):
            if home.get(c.value, HOST) != c.src:
                raise EPRuntimeError(f"copy plan: {c.value!r} is planned to come from {c.src}, but it is on "
                                     f"{home.get(c.value, HOST)} before subgraph {before}")
            made[(c.value, c.dst)] = var = f"{c.value}\x00@{c.dst}"
            label = f"copy {c.value!r} {c.src} -> {c.dst}"
            fn, who = _copier(by_device, c, direct_fns)
            if profiler is not None:
                fn = timed(fn, profiler, "Copy", label,
                           {"provider": who.name, "value": c.value, "from": c.src, "to": c.dst, "direct": c.direct,
                            "before_subgraph": c.before_subgraph},
                           by_device[c.dst].synchronize if c.dst != HOST else None, count_bytes=True)
            steps.append(Step(fn, [c.value], [var], label=label))

    def located(value: str, where: str) -> str:
        if where in (ANY, home.get(value, HOST)):
            return value
        try:
            return made[(value, where)]
        except KeyError:
            raise EPRuntimeError(f"copy plan: no copy of {value!r} to {where} is planned, but it is needed "
                                 "there") from None

    for sg, fn in zip(part.subgraphs, compiled):
        prov = by_name[sg.provider]
        if steps:  # a cancellation checkpoint between subgraphs (RunOptions.terminate, run timeout)
            steps.append(Step(check_cancelled, [Const(f"before subgraph {sg.index} on {prov.name}")], [],
                              label="cancellation checkpoint"))
        copy_steps(sg.index)
        place = part.placement[sg.index]
        args = [located(v, place[v]) for v in sg.inputs]
        label = f"subgraph {sg.index} on {prov.name}"
        if profiler is not None:
            fn = timed(fn, profiler, "Subgraph", label, {"provider": prov.name, "subgraph": sg.index,
                                                         "nodes": len(sg.nodes)}, prov.synchronize)
        steps.append(Step(fn, args, list(sg.outputs), multi_output=True, label=label))
        for o in sg.outputs:
            home[o] = prov.device
    for o in graph.outputs:
        if o.name in graph.initializers and o.name not in home:
            steps.append(Step(_constant(graph.initializers[o.name]), [Const(None)], [o.name],
                              label=f"constant output {o.name!r}"))
            home[o.name] = HOST
    copy_steps(len(part.subgraphs))
    outputs = [located(o.name, (output_homes or {}).get(o.name, HOST)) for o in graph.outputs]
    return compile_steps(steps, [i.name for i in graph.inputs], outputs, provider="")


def _constant(value: Any) -> Callable[[Any], Any]:
    def constant(_: Any) -> Any:
        return value

    return constant


def _copier(by_device: dict[str, ExecutionProvider], copy: Copy,
            direct_fns: dict[tuple[str, str], Callable[[Any], Any]]) -> tuple[Callable[[Any], Any], ExecutionProvider]:
    """(copy function, the provider making the copy) for one planned copy. A direct copy uses the function
    one of the two providers declares, asked once per device pair and plan."""
    src, dst = copy.src, copy.dst
    if src == HOST:
        return by_device[dst].to_device, by_device[dst]
    if dst == HOST:
        return by_device[src].to_host, by_device[src]
    if copy.direct:
        if (src, dst) not in direct_fns:
            fn = direct_copier(by_device[src], by_device[dst])
            if fn is None:
                raise ProviderError(f"providers {by_device[src].name} and {by_device[dst].name} declared a direct "
                                    "copy when the session was partitioned, and none when its plan was built")
            direct_fns[(src, dst)] = fn
        return direct_fns[(src, dst)], by_device[dst]
    to_host, to_device = by_device[src].to_host, by_device[dst].to_device

    def copy_through_host(value: Any) -> Any:
        return to_device(to_host(value))

    return copy_through_host, by_device[dst]


def checked_outputs(fn: Callable[..., Any], sg: SubGraph, provider: ExecutionProvider) -> Callable[..., tuple]:
    """`fn` (a compiled subgraph) wrapped so that its results are held to what the graph promises:
    one value per subgraph output and, for each tensor output, the dtype, the rank and every static
    dim the graph knows. A mismatch is a KernelError naming the provider, subgraph, output and the
    node producing it, raised before the value reaches another provider or the user."""
    graph = sg.graph
    count = len(sg.outputs)
    expected = [(j, name, info.dtype, info.shape) for j, name in enumerate(sg.outputs)
                if (info := graph.value(name)).kind == "tensor" and (info.dtype is not None or info.shape is not None)]

    def fail(problem: str, name: str | None = None) -> KernelError:
        node = graph.producer.get(name) if name else None
        what = "its outputs" if name is None else f"output {name!r}"
        if node is not None:
            what += f" (of node {node.label})"
        return KernelError(f"provider {provider.name} broke its contract in subgraph {sg.index} "
                           f"(first node {sg.nodes[0].label}): {what} {problem}",
                           node=node.label if node else "", op_type=node.op_type if node else "",
                           provider=provider.name)

    # every output a tensor of known dtype and fixed dims: a run whose results are numpy arrays of exactly
    # those passes in one comparison each; anything else takes the checks below, which name the problem
    exact = None
    if len(expected) == count and all(d is not None and s is not None and all(isinstance(x, int) for x in s)
                                      for _, _, d, s in expected):
        exact = [(j, dtype, tuple(dims)) for j, _, dtype, dims in expected]

    def run(*args: Any) -> tuple:
        outs = fn(*args)
        if exact is not None and type(outs) is tuple and len(outs) == count:
            for j, dtype, shape in exact:
                value = outs[j]
                if type(value) is not np.ndarray or value.shape != shape or value.dtype != dtype:
                    break
            else:
                return outs
        try:
            got = len(outs)
        except TypeError:
            raise fail(f"are a {type(outs).__name__}, not a tuple of {count} values") from None
        if got != count:
            raise fail(f"are {got} values, the subgraph has {count} ({', '.join(map(repr, sg.outputs))})")
        for j, name, dtype, dims in expected:
            value = outs[j]
            vdtype, vshape = getattr(value, "dtype", None), getattr(value, "shape", None)
            if vdtype is None or vshape is None:
                raise fail(f"is a {type(value).__name__}, not a tensor with a dtype and a shape", name)
            if dtype is not None and vdtype != dtype:
                raise fail(f"has dtype {vdtype}, the graph says {dtype}", name)
            if dims is not None and (len(vshape) != len(dims) or any(
                    isinstance(want, int) and want != have for want, have in zip(dims, vshape))):
                promised = [d if isinstance(d, int) else "?" for d in dims]
                raise fail(f"has shape {list(vshape)}, the graph says {promised}", name)
        return outs

    return run

