"""The provider contract: ExecutionProvider, CompileOptions, the kernel registry, and the KernelProvider base."""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import functools
import inspect
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import onnx

from .codegen import Step, compile_steps
from .errors import ProviderError
from .graph import Graph, Node, SubGraph, attr_param_name
from .host_inputs import host_input_positions, metadata_input_positions
from .profiling import ProfileScope

#: The device string of host values (numpy arrays): graph inputs, constants and outputs live there.
HOST = "cpu"

#: Attributes of old operator versions that change nothing in the result (opset-1 `consumed_inputs`
#: asked for in-place updates): every kernel accepts them and none is given them.
IGNORED_ATTRIBUTES = frozenset({"consumed_inputs"})

#: Refusal kinds, the categories `get_partition()` reports for every (node, provider) refusal.
REFUSAL_KINDS = ("op", "version", "dtype", "attribute", "dynamic_shape", "host", "cycle", "error")


@dataclass(frozen=True)
class Refusal:
    """Why a provider did not take a node: a kind from REFUSAL_KINDS and a short human reason."""

    kind: str
    reason: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.reason}"


@dataclass
class Capability:
    """A provider's answer to `get_capability`: the nodes it takes and why it refuses the others."""

    claimed: list[Node] = field(default_factory=list)
    refused: dict[int, Refusal] = field(default_factory=dict)
    #: optional per-node note shown in the partition (e.g. which kernel implementation is used)
    notes: dict[int, str] = field(default_factory=dict)

    def refuse(self, node: Node, kind: str, reason: str) -> None:
        """Record that `node` is refused, with a kind and a reason."""
        self.refused[node.index] = Refusal(kind, reason)


@dataclass(frozen=True)
class CompileOptions:
    """What the session tells a provider when it compiles a subgraph: `provider.compile(subgraph, options)`.

    `optimization_level` is the session's graph_optimization_level: a provider fuses nodes only at 1
    (ORT_ENABLE_BASIC) and above. `profiler`, when the session profiles, receives one record per node
    run (`profiler.record(node.label, seconds)`); call `provider.synchronize()` before taking a time.
    """

    optimization_level: int = 99
    profiler: ProfileScope | None = None

    @property
    def fuse(self) -> bool:
        """Whether the provider may fuse nodes (the session did not turn graph optimizations off)."""
        return self.optimization_level > 0

    def for_body(self, owner: Node | None, body: str, nodes: Sequence[Node]) -> CompileOptions:
        """The options of a body graph (If/Loop/Scan) compiled while its owner's subgraph compiles: the
        same level, its node events nested under `owner` as `<owner>/<body>/<node>`."""
        nested = getattr(self.profiler, "nested", None)  # a ProfileScope nests; another recorder is shared
        return dataclasses.replace(self, profiler=nested(owner, body, nodes) if nested else self.profiler)

    @classmethod
    def carried_by(cls, subgraph: SubGraph) -> CompileOptions:
        """The options a subgraph carries in its legacy fields (set for providers whose compile takes no
        options, and read back when such a provider calls a base class's compile with the subgraph alone)."""
        return cls(subgraph.optimization_level, subgraph.profiler)


DEFAULT_COMPILE_OPTIONS = CompileOptions()

_compiling: contextvars.ContextVar[CompileOptions | None] = contextvars.ContextVar(
    "ep_runtime_compile_options", default=None)


def compiling_options() -> CompileOptions | None:
    """The options of the subgraph being compiled (body graphs compiled meanwhile derive theirs), or None."""
    return _compiling.get()


@contextlib.contextmanager
def _compiling_with(options: CompileOptions) -> Iterator[None]:
    token = _compiling.set(options)
    try:
        yield
    finally:
        _compiling.reset(token)


def compile_subgraph(provider: ExecutionProvider, subgraph: SubGraph,
                     options: CompileOptions = DEFAULT_COMPILE_OPTIONS) -> Callable[..., tuple]:
    """How the core compiles a subgraph: `provider.compile(subgraph, options)`. A provider whose `compile`
    takes only the subgraph (the contract before CompileOptions) gets a copy of the subgraph carrying the
    options as its legacy fields `profiler` and `optimization_level`; the subgraph given is never changed."""
    with _compiling_with(options):
        if _takes_options(provider.compile):
            return provider.compile(subgraph, options)
        legacy = dataclasses.replace(subgraph, profiler=options.profiler,
                                     optimization_level=options.optimization_level)
        return provider.compile(legacy)


def _takes_options(compile_method: Callable[..., Any]) -> bool:
    bound = getattr(compile_method, "__func__", None)
    return _signature_takes_options(bound if bound is not None else compile_method, bound is not None)


@functools.lru_cache(maxsize=256)
def _signature_takes_options(fn: Callable[..., Any], bound: bool) -> bool:
    """Whether a compile function accepts a second argument after the subgraph (`bound`: its first
    parameter is self)."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return True
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if bound:
        positional = positional[1:]
    return len(positional) >= 2 or any(p.kind is p.VAR_POSITIONAL for p in params)


class ExecutionProvider:
    """Base of every execution provider: says which nodes it runs and compiles subgraphs of them.

    Subclasses set `name` (onnxruntime style, e.g. `CPUExecutionProvider`) and `aliases`
    (short names such as `cpu`), and `device`: values on providers with equal `device` strings
    are exchanged without a copy. `HOST` ("cpu") means host numpy arrays.
    """

    name: ClassVar[str] = ""
    aliases: ClassVar[tuple[str, ...]] = ()
    device: str = HOST
    #: option names the provider understands; None accepts any
    known_options: ClassVar[frozenset[str] | None] = None
    #: whether its runs compute with numpy on the host: only when some node of the session is on such a
    #: provider does a run silence numpy's floating-point warnings (onnxruntime gives NaN / inf without
    #: any) and hold the BLAS pools that numpy uses at intra_op_num_threads
    uses_host_numpy: ClassVar[bool] = True

    def __init__(self, **options: Any) -> None:
        if self.known_options is not None:
            unknown = sorted(set(options) - self.known_options)
            if unknown:
                raise ProviderError(
                    f"{self.name} does not understand option(s) {', '.join(map(repr, unknown))}; "
                    f"it knows {sorted(self.known_options) or 'none'}"
                )
        self.options = dict(options)

    @classmethod
    def is_available(cls) -> bool:
        """Whether the driver and device this provider needs are present; never raises."""
        return cls.unavailable_reason() is None

    @classmethod
    def unavailable_reason(cls) -> str | None:
        """None when available, else a sentence saying what is missing."""
        return None

    def get_capability(self, graph: Graph, nodes: Sequence[Node]) -> Capability:
        """Of the not-yet-assigned `nodes`, which this provider takes, and a reason for each refusal."""
        raise NotImplementedError

    def compile(self, subgraph: SubGraph, options: CompileOptions | None = None) -> Callable[..., tuple]:
        """A callable running the whole subgraph: takes `subgraph.inputs` as device values
        (numpy for names in `subgraph.host_inputs`) and returns a tuple of `subgraph.outputs`.

        `options` (CompileOptions) say whether to fuse and where to record node times. The core always
        passes them (`compile_subgraph`); a compile taking only the subgraph still works (see there)."""
        raise NotImplementedError

    def to_device(self, array: np.ndarray) -> Any:
        """Copy a host numpy array to this provider's device."""
        return array

    def to_host(self, value: Any) -> np.ndarray:
        """Copy a device value back to a host numpy array."""
        return value

    def synchronize(self) -> None:
        """Wait until the work queued on the device is done. The profiler calls it before it takes the time
        of a node, a subgraph call or a copy; a provider that queues work asynchronously must implement it
        (the default does nothing: right for providers whose calls return when the work is done)."""

    def direct_copy_from(self, source: ExecutionProvider) -> Callable[[Any], Any] | None:
        """A function moving a value from `source`'s device straight onto this provider's device, or None
        (the default) when there is no direct path; the executor then copies through the host
        (`self.to_device(source.to_host(value))`). Asked once per device pair when the copies are planned,
        and again when a plan is built for the pairs planned direct."""
        return None

    def direct_copy_to(self, target: ExecutionProvider) -> Callable[[Any], Any] | None:
        """The same from the sending side: a function moving a value of this provider's device straight
        onto `target`'s device, or None. Asked when `target.direct_copy_from(self)` gives None."""
        return None


def direct_copier(source: ExecutionProvider, target: ExecutionProvider) -> Callable[[Any], Any] | None:
    """The direct device-to-device copy one of the two providers declares (the target asked first), or None
    when values must go through the host. A declaration that raises or is not callable is a ProviderError."""
    for asker, method, other in ((target, "direct_copy_from", source), (source, "direct_copy_to", target)):
        try:
            fn = getattr(asker, method)(other)
        except Exception as exc:
            raise ProviderError(f"provider {asker.name} raised in {method}({other.name}): "
                                f"{type(exc).__name__}: {exc}") from exc
        if fn is not None and not callable(fn):
            raise ProviderError(f"provider {asker.name} returned {type(fn).__name__} from {method}({other.name}); "
                                "expected a function value -> value, or None")
        if fn is not None:
            return fn
    return None


@dataclass(frozen=True, eq=False)
class KernelDef:
    """One registered kernel: a plain function for (domain, op_type) over opset versions since..until."""

    op_type: str
    domain: str
    since: int
    until: int | None
    fn: Callable[..., Any]
    multi_output: bool = False
    dtypes: frozenset[np.dtype] | None = None
    supports: Callable[[Node, Graph], str | Refusal | None] | None = None
    impl: str = "default"
    factory: bool = False
    #: the attributes the kernel takes and their defaults, when declared at registration (a function
    #: taking `**attributes`); None: its keyword-only parameters say (see `KernelRegistry.kernel`)
    attributes: tuple[tuple[str, Any], ...] | None = None
    #: the kernel this one overrides (same op and version start); it runs the nodes this one refuses
    fallback: KernelDef | None = None
    #: an in-place variant: same arguments, overwrites input 0 and returns it, or returns None (input
    #: untouched) when it cannot; the plan calls it only for an input 0 nothing else can see (codegen)
    inplace: Callable[..., Any] | None = None

    @functools.cached_property
    def _signature(self) -> tuple[frozenset[str], bool, frozenset[str]]:
        params = inspect.signature(self.fn).parameters.values()
        ctx = frozenset(p.name for p in params if p.kind is p.KEYWORD_ONLY and p.name.startswith("_"))
        if self.attributes is not None:
            return frozenset(attr_param_name(name) for name, _ in self.attributes), False, ctx
        kw = frozenset(p.name for p in params if p.kind is p.KEYWORD_ONLY and not p.name.startswith("_"))
        any_kw = any(p.kind is p.VAR_KEYWORD for p in params)
        return kw, any_kw, ctx

    @property
    def attribute_names(self) -> frozenset[str]:
        """Attribute parameter names the kernel accepts (ONNX names, `lambda_` for `lambda`)."""
        return self._signature[0]

    @property
    def accepts_any_attribute(self) -> bool:
        return self._signature[1]

    @property
    def context_names(self) -> frozenset[str]:
        """Context parameters the kernel asks for: `_node`, `_opset`, `_num_outputs`, `_graph`."""
        return self._signature[2]

    def covers(self, version: int) -> bool:
        return self.since <= version and (self.until is None or version <= self.until)

    @property
    def version_range(self) -> str:
        return f"{self.since}-{self.until}" if self.until is not None else f"{self.since}+"


def schema_version(node: Node) -> int:
    """The since_version of the operator schema in force for this node at its model's opset.

    For ops onnx does not know (custom domains) the model's opset for the domain is used.
    """
    return _schema_version(node.op_type, node.domain, node.opset)


@functools.lru_cache(maxsize=4096)
def _schema_version(op_type: str, domain: str, opset: int) -> int:
    try:
        return onnx.defs.get_schema(op_type, opset, domain).since_version
    except onnx.defs.SchemaError:
        return opset


class KernelRegistry:
    """Kernels keyed by (domain, op_type), each covering a range of operator versions."""

    def __init__(self) -> None:
        self._kernels: dict[tuple[str, str], list[KernelDef]] = {}

    def kernel(
        self,
        op_type: str | Iterable[str],
        since: int = 1,
        *,
        until: int | None = None,
        domain: str = "",
        multi_output: bool = False,
        dtypes: Iterable[Any] | None = None,
        supports: Callable[[Node, Graph], str | Refusal | None] | None = None,
        impl: str = "default",
        factory: bool = False,
        attributes: dict[str, Any] | None = None,
        inplace: Callable[..., Any] | None = None,
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator registering a kernel function for one or several op types (`inplace`: see KernelDef).

        The attributes a kernel takes are its keyword-only parameters, their defaults the defaults;
        `attributes` declares them instead (ONNX names and defaults) for a function taking
        `**attributes`, such as kernels generated from a table: each call gets every declared attribute,
        the node's value or the default. Attributes that change nothing (IGNORED_ATTRIBUTES, such as
        opset 1's `consumed_inputs`) are accepted for every kernel and never passed, so one function
        serves the versions with and without them.

        `since`/`until` bound the operator versions (schema since_versions) it implements;
        `dtypes` restricts the dtype of input 0; `supports(node, graph)` may refuse a node with
        a reason string (kind "attribute") or a Refusal. A kernel with an `impl` other than
        "default" registered over an existing one (same op and `since`) keeps it as its fallback:
        nodes it refuses (by dtype, attribute or `supports`) run on the kernel it replaced. With
        `factory=True` the function is called once per node at compile time, with the attributes
        and context only, and
        returns the function that runs the node (for kernels that prepare work, such as
        control flow compiling its body graphs).
        """
        ops = [op_type] if isinstance(op_type, str) else list(op_type)
        dts = frozenset(np.dtype(d) for d in dtypes) if dtypes is not None else None
        declared = tuple(attributes.items()) if attributes is not None else None

        def register(fn: Callable[..., Any]) -> Callable[..., Any]:
            for op in ops:
                self.add(KernelDef(op, domain, since, until, fn, multi_output, dts, supports, impl, factory,
                                   declared, inplace=inplace))
            return fn

        return register

    def add(self, kdef: KernelDef) -> None:
        """Add a kernel; one with the same (domain, op, since) replaces the earlier one, which stays
        as its fallback when the new kernel names an implementation (`impl` not "default")."""
        lst = self._kernels.setdefault((kdef.domain, kdef.op_type), [])
        replaced = [k for k in lst if k.since == kdef.since]
        if replaced and kdef.impl != "default" and kdef.fallback is None:
            kdef = dataclasses.replace(kdef, fallback=replaced[0])
        lst[:] = [k for k in lst if k.since != kdef.since]
        lst.append(kdef)
        lst.sort(key=lambda k: k.since)

    def update(self, other: KernelRegistry) -> None:
        """Add every kernel of `other`, replacing ours where they cover the same version start."""
        for lst in other._kernels.values():
            for k in lst:
                self.add(k)

    def defaults(self) -> KernelRegistry:
        """This registry with every named implementation (`impl` other than "default", e.g. the CPU
        provider's native kernels) replaced by the default kernel it overrides, where there is one."""
        out = KernelRegistry()
        for lst in self._kernels.values():
            for k in lst:
                while k.impl != "default" and k.fallback is not None:
                    k = k.fallback
                out.add(k)
        return out

    def copy(self) -> KernelRegistry:
        new = KernelRegistry()
        new.update(self)
        return new

    def ops(self) -> list[tuple[str, str]]:
        """Every (domain, op_type) that has at least one kernel."""
        return sorted(self._kernels)

    def versions(self, op_type: str, domain: str = "") -> list[KernelDef]:
        return list(self._kernels.get((domain, op_type), ()))

    def resolve(self, node: Node) -> KernelDef | Refusal:
        """The kernel for this node's op at its schema version, or why there is none."""
        kernels = self._kernels.get((node.domain, node.op_type))
        dom = node.domain or "ai.onnx"
        if not kernels:
            return Refusal("op", f"no kernel for {dom}::{node.op_type}")
        version = schema_version(node)
        for k in reversed(kernels):
            if k.covers(version):
                return k
        have = ", ".join(k.version_range for k in kernels)
        return Refusal("version", f"{dom}::{node.op_type} version {version} not implemented (have {have})")

    def select(self, node: Node, graph: Graph) -> KernelDef | Refusal:
        """The kernel that runs this node: the resolved one if it accepts the node (check_kernel),
        else the first of its fallbacks that does; otherwise the last refusal."""
        k = self.resolve(node)
        if isinstance(k, Refusal):
            return k
        version = schema_version(node)
        why = check_kernel(k, node, graph)
        while why is not None and k.fallback is not None and k.fallback.covers(version):
            k = k.fallback
            why = check_kernel(k, node, graph)
        return k if why is None else why

    def implementations(self) -> dict[str, list[str]]:
        """Op types (`domain::op` outside the default domain) by kernel implementation other than
        "default", e.g. {"native": ["Conv", "Relu", ...]}."""
        out: dict[str, set[str]] = {}
        for (domain, op), kernels in self._kernels.items():
            for k in kernels:
                if k.impl != "default":
                    out.setdefault(k.impl, set()).add(f"{domain}::{op}" if domain else op)
        return {impl: sorted(ops) for impl, ops in sorted(out.items())}


def _qualified(fn: Callable[..., Any]) -> str:
    return f"{getattr(fn, '__module__', '?')}:{getattr(fn, '__qualname__', type(fn).__name__)}"


def device_tensors(node: Node) -> list[str]:
    """The values a node reads and writes on its provider's device: every input except host-only
    and shape-only positions (see host_inputs.py), and every output. Empty names are left out."""
    skip = set(host_input_positions(node)) | set(metadata_input_positions(node))
    ins = [name for pos, name in enumerate(node.inputs) if name and pos not in skip]
    return ins + [o for o in node.outputs if o]


def check_kernel(kdef: KernelDef, node: Node, graph: Graph) -> Refusal | None:
    """Whether a resolved kernel can take this node: attributes, input dtype, custom check."""
    if not kdef.accepts_any_attribute:
        for a in node.attrs:
            if a not in IGNORED_ATTRIBUTES and attr_param_name(a) not in kdef.attribute_names:
                return Refusal("attribute", f"attribute {a!r} not supported")
    if kdef.dtypes is not None and node.inputs and node.inputs[0]:
        dt = graph.value(node.inputs[0]).dtype
        if dt is None:
            return Refusal("dtype", f"dtype of input {node.inputs[0]!r} unknown")
        if dt not in kdef.dtypes:
            return Refusal("dtype", f"{dt} not supported")
    if kdef.supports is not None:
        why = kdef.supports(node, graph)
        if isinstance(why, str):
            return Refusal("attribute", why)
        return why
    return None


class KernelProvider(ExecutionProvider):
    """A provider made of per-op kernels from a registry; `compile` sequences them.

    Subclasses set `registry` (a class-level KernelRegistry). Plugins may add or override
    kernels through the `ep_runtime_kernels` hook; the session passes those in `extra_kernels`.
    """

    registry: ClassVar[KernelRegistry] = KernelRegistry()

    def __init__(self, *, extra_kernels: KernelRegistry | None = None, **options: Any) -> None:
        super().__init__(**options)
        self.kernels = self.registry.copy()
        #: kernel functions plugins added or swapped in: the partition notes every node they run
        self.plugin_kernel_fns: frozenset[Callable[..., Any]] = frozenset()
        if extra_kernels is not None:
            self.kernels.update(extra_kernels)
            self.plugin_kernel_fns = frozenset(k.fn for domain, op in extra_kernels.ops()
                                               for k in extra_kernels.versions(op, domain))

    def refuse_node(self, node: Node, graph: Graph) -> Refusal | None:
        """A provider-wide check before kernel lookup (dtypes, dynamic shapes); None to go on."""
        return None

    def get_capability(self, graph: Graph, nodes: Sequence[Node]) -> Capability:
        cap = Capability()
        for node in nodes:
            why = self.refuse_node(node, graph)
            if why is None:
                k = self.kernels.select(node, graph)
                if isinstance(k, Refusal):
                    why = k
                elif k.impl != "default":
                    cap.notes[node.index] = f"kernel {k.impl}"
                elif k.fn in self.plugin_kernel_fns:
                    cap.notes[node.index] = f"kernel {_qualified(k.fn)} from a plugin"
            if why is None:
                cap.claimed.append(node)
            else:
                cap.refused[node.index] = why
        return cap

    def kernel_call(self, kdef: KernelDef, node: Node, graph: Graph,
                    fn: Callable[..., Any] | None = None) -> Callable[..., Any]:
        """The function called for one node: the kernel (or `fn`, its in-place variant) with its attributes
        and context bound."""
        kwargs: dict[str, Any] = {attr_param_name(a): v for a, v in node.attrs.items() if a not in IGNORED_ATTRIBUTES}
        for name, default in kdef.attributes or ():
            kwargs.setdefault(attr_param_name(name), default)
        ctx = kdef.context_names
        if "_node" in ctx:
            kwargs["_node"] = node
        if "_opset" in ctx:
            kwargs["_opset"] = node.opset
        if "_num_outputs" in ctx:
            kwargs["_num_outputs"] = len(node.outputs)
        if "_graph" in ctx:
            kwargs["_graph"] = graph
        if "_provider" in ctx:
            kwargs["_provider"] = self
        if kdef.factory:
            return kdef.fn(**kwargs)
        fn = kdef.fn if fn is None else fn
        return functools.partial(fn, **kwargs) if kwargs else fn

    def compile(self, subgraph: SubGraph, options: CompileOptions | None = None) -> Callable[..., tuple]:
        """The subgraph's kernels in one generated function; each node is timed when `options.profiler` is set
        (after `synchronize()`). Without options, those the subgraph carries (a legacy caller's)."""
        options = options if options is not None else CompileOptions.carried_by(subgraph)
        steps = []
        const_cache: dict[str, Any] = {}
        for node in subgraph.nodes:
            kdef = self.kernels.select(node, subgraph.graph)
            if isinstance(kdef, Refusal):
                raise RuntimeError(f"{self.name} cannot compile node {node.label}: {kdef}")
            host_pos = host_input_positions(node)
            args = [self._argument(subgraph, const_cache, name, pos in host_pos)
                    for pos, name in enumerate(node.inputs)]
            while args and args[-1] is None:
                args.pop()
            outer = {name: self._argument(subgraph, const_cache, name, False) for name in node.implicit_inputs}
            inplace = (self.kernel_call(kdef, node, subgraph.graph, kdef.inplace)
                       if kdef.inplace is not None and not kdef.factory else None)
            steps.append(Step(self.kernel_call(kdef, node, subgraph.graph), args, list(node.outputs),
                              multi_output=kdef.multi_output, label=node.label, outer=outer, op_type=node.op_type,
                              inplace=inplace))
        return compile_steps(steps, subgraph.inputs, subgraph.outputs, provider=self.name,
                             profiler=options.profiler, synchronize=self.synchronize)

    def _argument(self, subgraph: SubGraph, const_cache: dict[str, Any], name: str, host_only: bool) -> Any:
        """How a node input reaches its kernel: None, a device (or host) constant, or a value name."""
        if not name:
            return None
        on_host = self.device == HOST
        if name in subgraph.constants:
            want_host = on_host or host_only
            key = name if not want_host else "\0host\0" + name
            if key not in const_cache:
                arr = subgraph.constants[name]
                const_cache[key] = arr if want_host else self.to_device(arr)
            return Step.const(const_cache[key])
        if host_only and not on_host and name not in subgraph.host_inputs:
            return Step.convert(name, self.to_host)
        return name
