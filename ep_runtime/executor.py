"""The executor: compiles each subgraph on its provider and joins them with the planned copies.

The top-level plan is itself a straight-line function (see codegen): per run it copies each
crossing value once per target device, calls the subgraphs in order, frees every value after
its last use and returns the graph outputs as host arrays. A copy between two devices is direct
when one of the two providers declares it (`direct_copy_from` / `direct_copy_to`), else it goes
through the host.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .codegen import Const, Step, compile_steps
from .errors import KernelError, ProviderError
from .graph import Graph, SubGraph
from .partition import ANY, HOST, Partition
from .profiling import Profiler, ProfileScope, compiling_in, timed
from .provider import ExecutionProvider, direct_copier
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
    """Compile each subgraph of `part` on its provider; results of providers other than the reference
    CPU provider are checked against the graph (checked_outputs). With a profiler, each node's events
    name its provider and subgraph, and body graphs compiled meanwhile nest under their node."""
    by_name = {p.name: p for p in providers}
    compiled = []
    for sg in part.subgraphs:
        prov = by_name[sg.provider]
        scope = ProfileScope(profiler, prov.name, sg.index, sg.nodes) if profiler is not None else None
        sg.profiler = scope
        sg.optimization_level = optimization_level
        try:
            with compiling_in(scope):
                fn = prov.compile(sg)
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

    Graph inputs arrive on the host, except those `input_homes` places on a provider's device
    (values already there, e.g. bound OrtValues); outputs are delivered on the host, except those
    `output_homes` places on a device. Either way a value is copied only where a subgraph needs it
    elsewhere. With a profiler, every subgraph call and every copy is an event."""
    by_name = {p.name: p for p in providers}
    by_device: dict[str, ExecutionProvider] = {}
    for p in providers:
        by_device.setdefault(p.device, p)
    homes = {**(input_homes or {}), **(output_homes or {})}
    strange = sorted({d for d in homes.values() if d != HOST and d not in by_device})
    if strange:
        raise ProviderError(f"no provider of this session is on device(s) {strange}; its devices are "
                            f"{sorted(by_device)}")
    home: dict[str, str] = dict(input_homes or {})
    steps: list[Step] = []
    made: dict[tuple[str, str], str] = {}

    def located(value: str, where: str) -> str:
        src = home.get(value, HOST)
        if where in (ANY, src):
            return value
        key = (value, where)
        if key not in made:
            made[key] = f"{value}\x00@{where}"
            label = f"copy {value!r} {src} -> {where}"
            fn, who, direct = _copier(by_device, src, where)
            if profiler is not None:
                fn = timed(fn, profiler, "Copy", label, {"provider": who.name, "value": value, "from": src,
                                                          "to": where, "direct": direct},
                           by_device[where].synchronize if where != HOST else None, count_bytes=True)
            steps.append(Step(fn, [value], [made[key]], label=label))
        return made[key]

    for sg, fn in zip(part.subgraphs, compiled):
        prov = by_name[sg.provider]
        if steps:  # a cancellation checkpoint between subgraphs (RunOptions.terminate, run timeout)
            steps.append(Step(check_cancelled, [Const(f"before subgraph {sg.index} on {prov.name}")], [],
                              label="cancellation checkpoint"))
        place = part.placement[sg.index]
        args = [located(v, place[v]) for v in sg.inputs]
        label = f"subgraph {sg.index} on {prov.name}"
        if profiler is not None:
            fn = timed(fn, profiler, "Subgraph", label, {"provider": prov.name, "subgraph": sg.index,
                                                         "nodes": len(sg.nodes)}, prov.synchronize)
        steps.append(Step(fn, args, list(sg.outputs), multi_output=True, label=label))
        for o in sg.outputs:
            home[o] = prov.device
    outputs = []
    for o in graph.outputs:
        if o.name in graph.initializers and o.name not in home:
            steps.append(Step(_constant(graph.initializers[o.name]), [Const(None)], [o.name],
                              label=f"constant output {o.name!r}"))
            home[o.name] = HOST
        outputs.append(located(o.name, (output_homes or {}).get(o.name, HOST)))
    return compile_steps(steps, [i.name for i in graph.inputs], outputs, provider="")


def _constant(value: Any) -> Callable[[Any], Any]:
    def constant(_: Any) -> Any:
        return value

    return constant


def _copier(by_device: dict[str, ExecutionProvider], src: str,
            dst: str) -> tuple[Callable[[Any], Any], ExecutionProvider, bool]:
    """(copy function, the provider making the copy, whether it is direct) for one device pair."""
    if src == HOST:
        return by_device[dst].to_device, by_device[dst], False
    if dst == HOST:
        return by_device[src].to_host, by_device[src], False
    direct = direct_copier(by_device[src], by_device[dst])
    if direct is not None:
        return direct, by_device[dst], True
    to_host, to_device = by_device[src].to_host, by_device[dst].to_device

    def copy(value: Any) -> Any:
        return to_device(to_host(value))

    return copy, by_device[dst], False


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

    def run(*args: Any) -> tuple:
        outs = fn(*args)
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

