"""InferenceSession: load -> optimize -> partition -> compile -> run, with onnxruntime's API."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import InvalidArgument, ProviderError, RunCancelled
from .executor import Profiler, build_plan
from .graph import Graph, Node, SubGraph, ValueInfo
from .model import ModelSource, load_model, prepare_model
from .optimize import GraphOptimizationLevel, optimize
from .partition import Partition, partition
from .provider import ExecutionProvider
from .registry import CPU, available_providers, create_provider, find_provider_class
from .run_options import RunOptions, cancellable

logger = logging.getLogger("ep_runtime")
_SEVERITY = {0: logging.DEBUG, 1: logging.INFO, 2: logging.WARNING, 3: logging.ERROR, 4: logging.CRITICAL}
DISABLE_CPU_FALLBACK_KEY = "session.disable_cpu_ep_fallback"


class SessionOptions:
    """Session settings, named as in onnxruntime.

    `disable_cpu_ep_fallback = True` (or the config entry `session.disable_cpu_ep_fallback`
    = "1") turns on strict mode: any node that would fall back to the CPU is an error.
    """

    def __init__(self) -> None:
        self.graph_optimization_level: int = GraphOptimizationLevel.ORT_ENABLE_ALL
        self.enable_profiling: bool = False
        self.profile_file_prefix: str = "ep_runtime_profile"
        self.log_severity_level: int = 2
        self.log_verbosity_level: int = 0
        self.intra_op_num_threads: int = 0
        self.inter_op_num_threads: int = 0
        self.disable_cpu_ep_fallback: bool = False
        self._config: dict[str, str] = {}

    def add_session_config_entry(self, key: str, value: str) -> None:
        """Set a string config entry (onnxruntime's `add_session_config_entry`)."""
        self._config[key] = str(value)
        if key == DISABLE_CPU_FALLBACK_KEY:
            self.disable_cpu_ep_fallback = str(value).strip() in ("1", "true", "True")

    def get_session_config_entry(self, key: str) -> str:
        """Read back a config entry; raises KeyError naming it when unset."""
        if key not in self._config:
            raise KeyError(f"session config entry {key!r} is not set")
        return self._config[key]


@dataclass(frozen=True)
class NodeArg:
    """A graph input or output as onnxruntime shows it: name, shape (symbolic dims as str), type."""

    name: str
    shape: list[int | str | None] | None
    type: str


@dataclass(frozen=True)
class ModelMetadata:
    """The model's descriptive fields (onnxruntime's `get_modelmeta()`)."""

    producer_name: str
    graph_name: str
    domain: str
    description: str
    graph_description: str
    version: int
    custom_metadata_map: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _InputSpec:
    name: str
    info: ValueInfo
    dtype: np.dtype | None
    dims: tuple[int | str | None, ...] | None


class InferenceSession:
    """Runs an ONNX model on the listed execution providers, falling back to the CPU provider.

    `providers` takes names (`CPUExecutionProvider`) or aliases (`cpu`), or `(name, options)`
    tuples; `provider_options` is a list of dicts parallel to `providers`.
    """

    def __init__(
        self,
        path_or_bytes: ModelSource,
        sess_options: SessionOptions | None = None,
        providers: Sequence[str | tuple[str, dict[str, Any]]] | None = None,
        provider_options: Sequence[dict[str, Any]] | None = None,
        **kwargs: Any,
    ) -> None:
        t0 = time.perf_counter()
        self._options = sess_options or SessionOptions()
        logger.setLevel(_SEVERITY.get(int(self._options.log_severity_level), logging.WARNING))
        model = prepare_model(load_model(path_or_bytes))
        self._model = model
        opsets = {("" if o.domain in ("", "ai.onnx") else o.domain): int(o.version) for o in model.opset_import}
        functions = {(f.domain, f.name): f for f in model.functions}
        graph = Graph(model.graph, opsets, functions=functions)

        self._providers = self._create_providers(providers, provider_options)
        folder = next((p for p in self._providers if p.name == CPU), None)
        if folder is None:
            try:
                folder = create_provider(find_provider_class(CPU), {})
            except ProviderError:
                folder = None
        evaluate = _node_evaluator(folder) if folder is not None else None
        graph = optimize(graph, int(self._options.graph_optimization_level), evaluate)
        self._graph = graph

        self._partition = partition(graph, self._providers, strict=self._strict)
        self._profiler = Profiler(self._options.profile_file_prefix) if self._options.enable_profiling else None
        self._plan = build_plan(graph, self._partition, self._providers, self._profiler,
                                int(self._options.graph_optimization_level))
        self._output_names = [o.name for o in graph.outputs]
        self._output_index = {n: i for i, n in enumerate(self._output_names)}
        self._inputs = [
            _InputSpec(i.name, i, i.dtype, i.shape) for i in graph.inputs
        ]
        self._input_names = [s.name for s in self._inputs]
        self._overridable = {v.name for v in graph.overridable}
        self.creation_seconds = time.perf_counter() - t0
        logger.info("session created in %.3fs; %s", self.creation_seconds,
                    ", ".join(f"{p}={len(self._partition.nodes_on(p))}" for p in self._partition.providers))

    @property
    def _strict(self) -> bool:
        return bool(self._options.disable_cpu_ep_fallback)

    def _create_providers(
        self,
        providers: Sequence[str | tuple[str, dict[str, Any]]] | None,
        provider_options: Sequence[dict[str, Any]] | None,
    ) -> list[ExecutionProvider]:
        requested = list(providers) if providers is not None else [CPU]
        if provider_options is not None and len(provider_options) != len(requested):
            raise ProviderError(
                f"provider_options has {len(provider_options)} entries but providers has {len(requested)}"
            )
        specs: list[tuple[type[ExecutionProvider], dict[str, Any]]] = []
        for k, item in enumerate(requested):
            if isinstance(item, tuple):
                if len(item) != 2 or not isinstance(item[0], str) or not isinstance(item[1], dict):
                    raise ProviderError(f"providers[{k}] must be a name or a (name, options dict) tuple, "
                                        f"got {item!r}")
                name, opts = item[0], dict(item[1])
            elif isinstance(item, str):
                name, opts = item, {}
            else:
                raise ProviderError(f"providers[{k}] must be a provider name, got {type(item).__name__}")
            if provider_options is not None:
                opts.update(provider_options[k] or {})
            cls = find_provider_class(name)
            if any(c is cls for c, _ in specs):
                continue
            specs.append((cls, opts))
        if not self._strict and not any(c.name == CPU for c, _ in specs):
            specs.append((find_provider_class(CPU), {}))
        return [create_provider(cls, opts) for cls, opts in specs]

    # ---- onnxruntime-style introspection ----
    def get_inputs(self) -> list[NodeArg]:
        """The graph inputs a caller must feed (initializers excluded)."""
        return [_node_arg(s.info) for s in self._inputs]

    def get_outputs(self) -> list[NodeArg]:
        """The graph outputs, in order."""
        return [_node_arg(o) for o in self._graph.outputs]

    def get_overridable_initializers(self) -> list[NodeArg]:
        """Graph inputs that have an initializer as default (shown, not feedable here)."""
        return [_node_arg(v) for v in self._graph.overridable]

    def get_providers(self) -> list[str]:
        """Providers that received at least one node, in priority order."""
        used = {d.provider for d in self._partition.decisions}
        return [p.name for p in self._providers if p.name in used] or [self._providers[0].name]

    def get_provider_options(self) -> dict[str, dict[str, Any]]:
        """The options each session provider was created with."""
        return {p.name: dict(p.options) for p in self._providers}

    def get_session_options(self) -> SessionOptions:
        return self._options

    def get_modelmeta(self) -> ModelMetadata:
        """The model's producer, graph name, domain, description, version and custom metadata."""
        m = self._model
        return ModelMetadata(
            producer_name=m.producer_name, graph_name=m.graph.name, domain=m.domain,
            description=m.doc_string, graph_description=m.graph.doc_string, version=m.model_version,
            custom_metadata_map={p.key: p.value for p in m.metadata_props},
        )

    def get_graph(self) -> Graph:
        """The graph this session runs: after constant folding and the other optimizations."""
        return self._graph

    def get_partition(self) -> Partition:
        """The partitioning decisions: node -> provider, refusals, subgraphs, device copies."""
        return self._partition

    def end_profiling(self) -> str:
        """Write the profile collected so far (Chrome trace JSON) and return its file name."""
        if self._profiler is None:
            return ""
        return self._profiler.write()

    # ---- running ----
    def run(
        self,
        output_names: Sequence[str] | None,
        input_feed: dict[str, Any],
        run_options: RunOptions | None = None,
    ) -> list[Any]:
        """Run the model on `input_feed` (name -> numpy array) and return the requested outputs.

        With `run_options`, setting `run_options.terminate = True` from another thread, or its
        `ep_runtime.run_timeout_ms` config entry, stops the run at the next checkpoint (between
        subgraphs, between control-flow iterations) with RunCancelled / RunTimedOut.
        """
        args = self._check_feed(input_feed)
        if output_names:
            try:
                picks = [self._output_index[n] for n in output_names]
            except KeyError as exc:
                raise InvalidArgument(
                    f"unknown output name {exc.args[0]!r}; the model's outputs are {self._output_names}"
                ) from None
        else:
            picks = range(len(self._output_names))
        try:
            # like onnxruntime: domain errors give NaN/inf, not warnings
            with np.errstate(all="ignore"), cancellable(run_options):
                results = self._plan(*args)
        except RunCancelled as exc:
            if run_options is None or run_options.log_severity_level < 3:
                logger.warning("%s", exc)
            raise
        return [_as_output(results[k]) for k in picks]

    def _check_feed(self, feed: dict[str, Any]) -> list[Any]:
        if not isinstance(feed, dict):
            raise InvalidArgument(f"input_feed must be a dict of input name -> array, got {type(feed).__name__}")
        unknown = [k for k in feed if k not in self._input_names and k not in self._overridable]
        if unknown:
            raise InvalidArgument(f"unknown input name(s) {unknown}; the model's inputs are {self._input_names}")
        overridden = [k for k in feed if k in self._overridable]
        if overridden:
            raise InvalidArgument(f"input(s) {overridden} are initializers baked into this session; "
                                  "overriding initializers is not supported")
        missing = [n for n in self._input_names if n not in feed]
        if missing:
            raise InvalidArgument(f"missing input(s) {missing}; the model needs {self._input_names}")
        return [_check_input(spec, feed[spec.name]) for spec in self._inputs]


def _check_input(spec: _InputSpec, value: Any) -> Any:
    kind = spec.info.kind
    if kind == "sequence":
        if not isinstance(value, (list, tuple)):
            raise InvalidArgument(f"input {spec.name!r} is a sequence ({spec.info.type_str}); "
                                  f"pass a list of arrays, got {type(value).__name__}")
        return list(value)
    if kind == "map":
        if not isinstance(value, dict):
            raise InvalidArgument(f"input {spec.name!r} is a map ({spec.info.type_str}); "
                                  f"pass a dict, got {type(value).__name__}")
        return value
    if kind == "optional":
        return value
    if isinstance(value, np.generic):
        value = np.asarray(value)
    if not isinstance(value, np.ndarray):
        raise InvalidArgument(f"input {spec.name!r} must be a numpy array ({spec.info.type_str}), "
                              f"got {type(value).__name__}")
    if spec.dtype is not None and value.dtype != spec.dtype:
        if not (spec.dtype == np.dtype(object) and value.dtype.kind in "OU"):
            raise InvalidArgument(f"input {spec.name!r} has dtype {value.dtype}, expected {spec.dtype} "
                                  f"({spec.info.type_str})")
        value = value.astype(object)
    dims = spec.dims
    if dims is not None:
        if value.ndim != len(dims):
            raise InvalidArgument(f"input {spec.name!r} has rank {value.ndim} (shape {list(value.shape)}), "
                                  f"expected rank {len(dims)} (shape {list(dims)})")
        for axis, (want, got) in enumerate(zip(dims, value.shape)):
            if isinstance(want, int) and want != got:
                raise InvalidArgument(f"input {spec.name!r} has dim {got} on axis {axis} (shape "
                                      f"{list(value.shape)}), expected {want} (shape {list(dims)})")
    return value


def _as_output(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, np.generic):
        return np.asarray(value)
    return value


def _node_arg(info: ValueInfo) -> NodeArg:
    shape = list(info.shape) if info.shape is not None else None
    return NodeArg(info.name, shape, info.type_str)


def _node_evaluator(provider: ExecutionProvider):
    """Evaluate single nodes on host constants with `provider` (used for constant folding)."""

    def evaluate(node: Node, graph: Graph, inputs: list) -> list | None:
        try:
            if not provider.get_capability(graph, [node]).claimed:
                return None
            consts = {name: arr for name, arr in zip(node.inputs, inputs) if name}
            outs = [o for o in node.outputs if o]
            sg = SubGraph(-1, provider.name, [node], [], outs, consts, set(), graph)
            results = provider.compile(sg)()
        except Exception:
            return None  # left unfolded: if it is broken, running it reports the error with context
        values = dict(zip(outs, results))
        return [_as_output(values.get(o)) if o else None for o in node.outputs]

    return evaluate


def get_available_providers() -> list[str]:
    """Installed providers whose device is present, in onnxruntime's order (CPU last)."""
    return available_providers()


def get_all_providers() -> list[str]:
    """Every installed provider, available or not."""
    from .registry import provider_classes

    return [c.name for c in provider_classes()]


__all__ = ["InferenceSession", "SessionOptions", "NodeArg", "ModelMetadata", "get_available_providers",
           "get_all_providers"]
