"""InferenceSession: load -> optimize -> partition -> compile -> run, with onnxruntime's API."""

from __future__ import annotations

import re
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import host_arena
from .errors import InvalidArgument, ModelLoadCancelled, ProviderError, RunCancelled
from .executor import assemble_plan, compile_subgraphs
from .graph import Graph, Node, SubGraph, ValueInfo
from .io_binding import IOBinding
from .model import ModelSource, load_model, prepare_model
from .optimize import optimize
from .ort_logging import SessionLog
from .ort_providers import is_onnxruntime_provider_name
from .ort_value import OrtValue, device_provider
from .partition import Partition, partition
from .profiling import Profiler
from .provider import HOST, ExecutionProvider, compile_subgraph
from .registry import (
    CPU,
    available_providers,
    create_provider,
    distinct_instances,
    find_provider_class,
    is_reference_provider,
    provider_classes,
    unavailable_reason,
)
from .run_options import RunOptions, cancellable
from .session_options import SessionOptions
from .threads import intra_op_thread_limit, reset_intra_op_threads, set_intra_op_threads
from .validation import ValidationReport, ValidationSettings, reference_for_validation, validating

#: model_version onnxruntime reports when the model sets none
UNSET_MODEL_VERSION = 2**63 - 1
#: dim names ONNX shape inference makes up for unknown dims (onnxruntime shows those dims as None)
_INFERRED_DIM = re.compile(r"unk__\d+")


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
    tuples; `provider_options` is a list of dicts parallel to `providers`. As in onnxruntime, a
    listed provider that is not available here (or an onnxruntime provider ep-runtime lacks, such
    as `TensorrtExecutionProvider`) is skipped with a UserWarning saying why; in strict mode
    (`disable_cpu_ep_fallback`) it is a ProviderError. An unknown name is a ProviderError. A provider
    listed twice with different options runs as two instances, one per device (named
    `<name>[<device>]`); two instances on one device are a ProviderError.

    Session config entries `ep_runtime.validate`, `ep_runtime.validate_tolerance` and
    `ep_runtime.validate_strict` turn on validation mode (see `get_validation_report`).

    `enable_fallback()`: if the providers fail to set up (a ProviderError), warn and retry once
    with the CPU provider alone, as onnxruntime does; ep-runtime's default is off (the error is
    raised), the onnxruntime shim (`install_as_onnxruntime`) turns it on.
    """

    #: whether a ProviderError while setting up the providers falls back to CPU (see enable_fallback)
    fallback_default = False

    def __init__(
        self,
        path_or_bytes: ModelSource,
        sess_options: SessionOptions | None = None,
        providers: Sequence[str | tuple[str, dict[str, Any]]] | None = None,
        provider_options: Sequence[dict[str, Any]] | None = None,
        **kwargs: Any,
    ) -> None:
        t0 = time.perf_counter()
        options = sess_options if sess_options is not None else SessionOptions()
        if not isinstance(options, SessionOptions):
            raise InvalidArgument(f"sess_options must be an ep_runtime.SessionOptions, got {type(options).__name__}")
        self._options = options
        self._log = SessionLog(options.log_severity_level, options.logid)
        self._enable_fallback = self.fallback_default
        self._load_checkpoint("before loading the model")
        model = load_model(path_or_bytes)
        if options.edits_model():
            model = options.apply_to_model(model)
        model = prepare_model(model)
        self._load_checkpoint("after loading the model")
        self._model = model
        opsets = {("" if o.domain in ("", "ai.onnx") else o.domain): int(o.version) for o in model.opset_import}
        functions = {(f.domain, f.name): f for f in model.functions}
        self._loaded_graph = Graph(model.graph, opsets, functions=functions)
        self._profiling_start_ns = time.time_ns() if options.enable_profiling else 0
        self._profiler = Profiler(options.profile_file_prefix) if options.enable_profiling else None
        if providers is None and options.has_providers():
            providers = options.providers
        self._build_with_fallback(providers, provider_options)
        self.creation_seconds = time.perf_counter() - t0
        self._log.info("session created in %.3fs; %s", self.creation_seconds,
                       ", ".join(f"{p}={len(self._partition.nodes_on(p))}" for p in self._partition.providers))

    def _load_checkpoint(self, where: str) -> None:
        if self._options.load_cancelled:
            raise ModelLoadCancelled(f"session creation cancelled {where}: "
                                     "SessionOptions.set_load_cancellation_flag(True) was called")

    def _build_with_fallback(self, providers: Sequence[Any] | None, provider_options: Sequence[Any] | None) -> None:
        try:
            self._build(providers, provider_options)
        except ProviderError as exc:
            if not self._enable_fallback or list(providers or [CPU]) == [CPU]:
                raise
            warnings.warn(f"{exc}; falling back to ['{CPU}'] and retrying (InferenceSession.disable_fallback() "
                          "turns this off)", UserWarning, stacklevel=3)
            self._enable_fallback = False  # as onnxruntime: fall back once
            self._build([CPU], None)

    def _build(self, providers: Sequence[Any] | None, provider_options: Sequence[Any] | None) -> None:
        """Providers -> optimize -> partition -> compile: everything that depends on the providers. The
        session's state changes only once all of it succeeded (a failed set_providers leaves it as it was)."""
        validate = ValidationSettings.from_config(self._config_entry)
        providers_made = self._create_providers(providers, provider_options)
        folder = next((p for p in providers_made if p.name == CPU), None)
        if folder is None:
            try:
                folder = create_provider(find_provider_class(CPU), {})
            except ProviderError:
                folder = None
        evaluate = _node_evaluator(folder) if folder is not None else None
        graph = optimize(self._loaded_graph, int(self._options.graph_optimization_level), evaluate, providers_made)
        self._load_checkpoint("after optimizing the graph")
        part = partition(graph, providers_made, strict=self._strict)
        self._load_checkpoint("after partitioning the graph")
        compiled = compile_subgraphs(part, providers_made, self._profiler, int(self._options.graph_optimization_level))
        report = None
        if validate.enabled:
            compiled, report = validating(part, providers_made, compiled, validate, is_reference_provider,
                                          reference_for_validation(), int(self._options.graph_optimization_level))
            part.validation = report
        plan = assemble_plan(graph, part, providers_made, compiled, profiler=self._profiler)

        self._providers, self._graph, self._partition = providers_made, graph, part
        self._validation = report
        self._compiled, self._plan = compiled, plan
        on = {d.provider for d in part.decisions}
        #: whether a run computes with numpy on the host (then numpy's floating-point warnings are silenced
        #: and the BLAS pools held at intra_op_num_threads)
        self._run_uses_numpy = validate.enabled or any(p.uses_host_numpy for p in providers_made if p.name in on)
        self._placed_plans: dict[tuple, Callable[..., tuple]] = {}
        self._output_names = [o.name for o in graph.outputs]
        self._output_index = {n: i for i, n in enumerate(self._output_names)}
        self._inputs = [
            _InputSpec(i.name, i, i.dtype, i.shape) for i in graph.inputs
        ]
        self._input_names = [s.name for s in self._inputs]
        self._overridable = {v.name for v in graph.overridable}
        self._plain_feed = _plain_feed_checks(self._inputs)

    def _config_entry(self, key: str) -> str | None:
        try:
            return self._options.get_session_config_entry(key)
        except KeyError:
            return None

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
            try:
                cls = find_provider_class(name)
            except ProviderError:
                if not is_onnxruntime_provider_name(name) or self._strict:
                    raise
                warnings.warn(f"Specified provider {name!r} is an onnxruntime provider ep-runtime does not have; "
                              f"going on without it (available: {', '.join(available_providers())})",
                              UserWarning, stacklevel=5)
                continue
            if any(c is cls and o == opts for c, o in specs):
                continue  # listed twice alike: one instance does it all
            reason = unavailable_reason(cls)
            if reason is not None:
                if self._strict:
                    raise ProviderError(f"execution provider {cls.name} is not available: {reason}")
                warnings.warn(f"execution provider {cls.name} is not available: {reason}; going on without it "
                              f"(available: {', '.join(available_providers())})", UserWarning, stacklevel=5)
                continue
            specs.append((cls, opts))
        if not specs and self._strict:
            raise ProviderError(f"none of the providers {requested!r} is available, and strict mode "
                                "(disable_cpu_ep_fallback) forbids falling back to the CPU provider")
        if not self._strict and not any(c.name == CPU for c, _ in specs):
            specs.append((find_provider_class(CPU), {}))
        return distinct_instances([(create_provider(cls, opts), opts) for cls, opts in specs])

    # ---- onnxruntime-style introspection ----
    def get_inputs(self) -> list[NodeArg]:
        """The graph inputs a caller must feed (initializers excluded)."""
        return [_node_arg(s.info) for s in self._inputs]

    def get_outputs(self) -> list[NodeArg]:
        """The graph outputs, in order (dims ONNX shape inference could not name are None)."""
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
        """The SessionOptions the session was created with."""
        return self._options

    def set_providers(self, providers: Sequence[Any] | None = None,
                      provider_options: Sequence[dict[str, Any]] | None = None) -> None:
        """Re-place the model on other providers (re-partitions and recompiles; the loaded model is kept)."""
        self._build_with_fallback(providers, provider_options)

    def enable_fallback(self) -> None:
        """If setting up the providers fails (in set_providers), warn and retry once on the CPU provider alone."""
        self._enable_fallback = True

    def disable_fallback(self) -> None:
        """A provider that fails to set up is an error (ep-runtime's default)."""
        self._enable_fallback = False

    def get_profiling_start_time_ns(self) -> int:
        """When profiling started (ns since the epoch); 0 when the session does not profile."""
        return self._profiling_start_ns

    def io_binding(self) -> IOBinding:
        """A new IOBinding for this session."""
        return IOBinding(self)

    def run_with_iobinding(self, iobinding: IOBinding, run_options: RunOptions | None = None) -> None:
        """Run on the inputs bound to `iobinding` and leave the results in it."""
        if not isinstance(iobinding, IOBinding) or iobinding._session is not self:
            raise InvalidArgument("run_with_iobinding takes an IOBinding made by this session's io_binding()")
        iobinding.run(run_options)

    def run_with_ort_values(self, output_names: Sequence[str] | None, input_dict_ort_values: dict[str, Any],
                            run_options: RunOptions | None = None) -> list[OrtValue]:
        """`run` taking and returning OrtValues. An input on the device of one of the session's providers
        goes to the plan as it is (copied only where a subgraph needs it elsewhere); one on another
        device is read through the host. Outputs are host OrtValues."""
        return self.run_placed(output_names, input_dict_ort_values, run_options)

    def run_placed(self, output_names: Sequence[str] | None, inputs: dict[str, Any],
                   run_options: RunOptions | None = None,
                   output_devices: dict[str, tuple[str, int]] | None = None) -> list[OrtValue]:
        """Run on OrtValues (or arrays) and return OrtValues, each output on the device `output_devices`
        names for it ((device type, device id); default: the host). A device that one of the session's
        providers runs on costs no copy there; another device gets a copy through the host."""
        if not isinstance(inputs, dict):
            raise InvalidArgument(f"inputs must be a dict of input name -> OrtValue, got {type(inputs).__name__}")
        on_device = {}
        for p in self._providers:
            on_device.setdefault(p.device, p)
        feed: dict[str, Any] = {}
        input_homes: dict[str, str] = {}
        for name, value in inputs.items():
            if isinstance(value, OrtValue):
                where = value.provider.device if value.provider is not None and value.is_tensor() else None
                if where is not None and where != HOST and where in on_device:
                    input_homes[name] = where
                    feed[name] = value
                else:
                    feed[name] = value.numpy()
            else:
                feed[name] = value
        output_homes: dict[str, str] = {}
        for name, (device_type, device_id) in (output_devices or {}).items():
            provider = device_provider(device_type, device_id)
            if provider is not None and provider.device in on_device and provider.device != HOST:
                output_homes[name] = provider.device
        args = self._check_feed(feed, input_homes)
        picks = self._output_picks(output_names)
        key = (tuple(sorted(input_homes.items())), tuple(sorted(output_homes.items())))
        plan = self._plan if key == ((), ()) else self._placed_plans.get(key)
        if plan is None:
            plan = assemble_plan(self._graph, self._partition, self._providers, self._compiled,
                                 input_homes, output_homes, profiler=self._profiler)
            self._placed_plans[key] = plan
        results = self._execute(plan, args, run_options)
        values = []
        for k in picks:
            name = self._output_names[k]
            if name in output_homes:
                values.append(OrtValue(results[k], on_device[output_homes[name]]))
                continue
            value = OrtValue(_as_output(results[k]))
            if name in (output_devices or {}) and output_devices[name][0].lower() != HOST:
                value = OrtValue.ortvalue_from_numpy(value.numpy(), *output_devices[name])
            values.append(value)
        return values

    def run_async(self, output_names: Sequence[str] | None, input_feed: dict[str, Any],
                  callback: Callable[[list[Any] | None, Any, str], None], user_data: Any = None,
                  run_options: RunOptions | None = None) -> None:
        """Run on a new thread, then call `callback(results, user_data, error)`: results are None and
        error the message when the run failed, else error is ""."""
        def work() -> None:
            try:
                results = self.run(output_names, input_feed, run_options)
            except Exception as exc:
                callback(None, user_data, str(exc))
            else:
                callback(results, user_data, "")

        threading.Thread(target=work, name="ep_runtime.run_async", daemon=True).start()

    def get_tuning_results(self) -> list[dict[str, Any]]:
        """Always empty: ep-runtime has no tunable kernels."""
        return []

    def set_tuning_results(self, results: Sequence[dict[str, Any]], error_on_invalid: bool = False) -> None:
        """Accepted without effect: ep-runtime has no tunable kernels."""

    def get_modelmeta(self) -> ModelMetadata:
        """The model's producer, graph name, domain, description, version and custom metadata."""
        m = self._model
        return ModelMetadata(
            producer_name=m.producer_name, graph_name=m.graph.name, domain=m.domain,
            description=m.doc_string, graph_description=m.graph.doc_string,
            version=m.model_version if m.HasField("model_version") else UNSET_MODEL_VERSION,
            custom_metadata_map={p.key: p.value for p in m.metadata_props},
        )

    def get_graph(self) -> Graph:
        """The graph this session runs: after constant folding and the other optimizations."""
        return self._graph

    def get_partition(self) -> Partition:
        """The partitioning decisions: node -> provider, refusals, subgraphs, device copies (and, in
        validation mode, the errors found against the reference CPU provider so far)."""
        return self._partition

    def get_validation_report(self) -> ValidationReport | None:
        """In validation mode (session config entry `ep_runtime.validate` = "1"), the largest differences
        between each non-reference subgraph (and its nodes) and the reference CPU provider over the runs so
        far; None when validation mode is off."""
        return self._validation

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
        args = self._plain_args(input_feed)
        if args is None:
            args = self._check_feed(input_feed)
        picks = self._output_picks(output_names)
        results = self._execute(self._plan, args, run_options)
        return [_as_output(results[k]) for k in picks]

    def _plain_args(self, feed: Any) -> list[np.ndarray] | None:
        """The plan's arguments when `feed` is the common case, checked as _check_feed would check it:
        a dict of exactly the inputs, each a numpy array (not a subclass) of the declared dtype and
        dims. None for anything else, which _check_feed then converts or reports."""
        checks = self._plain_feed
        if checks is None or type(feed) is not dict or len(feed) != len(checks):
            return None
        args = []
        for name, dtype, shape, spec in checks:
            value = feed.get(name)
            if type(value) is not np.ndarray or value.dtype != dtype:
                return None
            if shape is None:
                _check_dims(spec, value.shape)
            elif value.shape != shape:
                return None
            args.append(value)
        return args

    def _output_picks(self, output_names: Sequence[str] | None) -> Sequence[int]:
        if not output_names:
            return range(len(self._output_names))
        try:
            return [self._output_index[n] for n in output_names]
        except KeyError as exc:
            raise InvalidArgument(
                f"unknown output name {exc.args[0]!r}; the model's outputs are {self._output_names}"
            ) from None

    def _execute(self, plan: Callable[..., tuple], args: list[Any], run_options: RunOptions | None) -> tuple:
        threads = self._options.intra_op_num_threads
        arena = self._options.enable_cpu_mem_arena and host_arena.AVAILABLE
        try:
            previous = host_arena.enter() if arena else None
            try:
                if run_options is None and not self._run_uses_numpy:
                    # nothing to silence, no BLAS pool to hold, no RunOptions to watch: only the thread count
                    token = set_intra_op_threads(max(0, threads))
                    try:
                        return plan(*args)
                    finally:
                        reset_intra_op_threads(token)
                # like onnxruntime: domain errors give NaN/inf, not warnings
                with np.errstate(all="ignore"), cancellable(run_options), \
                        intra_op_thread_limit(threads):
                    return plan(*args)
            finally:
                if arena:
                    host_arena.leave(previous)
        except RunCancelled as exc:
            if run_options is None or run_options.log_severity_level < 3:
                self._log.warning("%s", exc)
            raise

    def _check_feed(self, feed: dict[str, Any], on_device: dict[str, str] | None = None) -> list[Any]:
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
        on_device = on_device or {}
        return [_check_device_input(spec, feed[spec.name]) if spec.name in on_device
                else _check_input(spec, feed[spec.name]) for spec in self._inputs]


def _plain_feed_checks(inputs: Sequence[_InputSpec]) -> list[tuple[str, np.dtype, tuple[int, ...] | None,
                                                                      _InputSpec]] | None:
    """What InferenceSession._plain_args checks per input: (name, dtype, the shape when every dim is
    fixed else None, spec). None when an input is not a tensor of known dtype (a sequence, a map, an
    optional, a string tensor): those feeds always take _check_feed."""
    checks = []
    for spec in inputs:
        if spec.info.kind != "tensor" or spec.dtype is None or spec.dtype == np.dtype(object):
            return None
        static = spec.dims is not None and all(isinstance(d, int) and d >= 0 for d in spec.dims)
        checks.append((spec.name, spec.dtype, tuple(spec.dims) if static else None, spec))
    return checks


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
    if isinstance(value, (list, tuple)) and spec.dtype is not None:
        value = _list_as_array(spec, value)
    if not isinstance(value, np.ndarray):
        raise InvalidArgument(f"input {spec.name!r} must be a numpy array ({spec.info.type_str}), "
                              f"got {type(value).__name__}")
    if spec.dtype is not None and value.dtype != spec.dtype:
        if not (spec.dtype == np.dtype(object) and value.dtype.kind in "OU"):
            raise InvalidArgument(f"input {spec.name!r} has dtype {value.dtype}, expected {spec.dtype} "
                                  f"({spec.info.type_str})")
        value = value.astype(object)
    _check_dims(spec, tuple(value.shape))
    return value


def _check_dims(spec: _InputSpec, shape: tuple[int, ...]) -> None:
    dims = spec.dims
    if dims is None:
        return
    if len(shape) != len(dims):
        raise InvalidArgument(f"input {spec.name!r} has rank {len(shape)} (shape {list(shape)}), "
                              f"expected rank {len(dims)} (shape {list(dims)})")
    for axis, (want, got) in enumerate(zip(dims, shape)):
        if isinstance(want, int) and want >= 0 and want != got:
            raise InvalidArgument(f"input {spec.name!r} has dim {got} on axis {axis} (shape "
                                  f"{list(shape)}), expected {want} (shape {list(dims)})")


def _check_device_input(spec: _InputSpec, value: OrtValue) -> Any:
    """A tensor already on a provider's device: its dtype and dims are checked, its data stays there."""
    if spec.info.kind != "tensor":
        raise InvalidArgument(f"input {spec.name!r} is a {spec.info.type_str}; a device OrtValue holds a tensor")
    data = value.value
    if spec.dtype is not None and np.dtype(data.dtype) != spec.dtype:
        raise InvalidArgument(f"input {spec.name!r} has dtype {np.dtype(data.dtype)}, expected {spec.dtype} "
                              f"({spec.info.type_str})")
    _check_dims(spec, tuple(int(d) for d in data.shape))
    return data


def _list_as_array(spec: _InputSpec, value: list | tuple) -> np.ndarray:
    """A Python list fed for a tensor input, as an array of the declared dtype (as onnxruntime converts it)."""
    try:
        return np.asarray(value, dtype=spec.dtype)
    except (TypeError, ValueError, OverflowError) as exc:
        raise InvalidArgument(f"input {spec.name!r} was given as a {type(value).__name__} that does not convert to "
                              f"{spec.info.type_str}: {exc}") from None


def _as_output(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, np.generic):
        return np.asarray(value)
    return value


def _node_arg(info: ValueInfo) -> NodeArg:
    shape = None if info.shape is None else [_shown_dim(d) for d in info.shape]
    return NodeArg(info.name, shape, info.type_str)


def _shown_dim(dim: int | str | None) -> int | str | None:
    """A dim as onnxruntime shows it: -1 (exporters' "dynamic") and names shape inference made up are None."""
    if isinstance(dim, int):
        return dim if dim >= 0 else None
    if isinstance(dim, str) and _INFERRED_DIM.fullmatch(dim):
        return None
    return dim


def _node_evaluator(provider: ExecutionProvider):
    """Evaluate single nodes on host constants with `provider` (used for constant folding)."""

    def evaluate(node: Node, graph: Graph, inputs: list) -> list | None:
        try:
            if not provider.get_capability(graph, [node]).claimed:
                return None
            consts = {name: arr for name, arr in zip(node.inputs, inputs) if name}
            outs = [o for o in node.outputs if o]
            sg = SubGraph(-1, provider.name, [node], [], outs, consts, set(), graph)
            results = compile_subgraph(provider, sg)()
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
    return [c.name for c in provider_classes()]


__all__ = ["InferenceSession", "SessionOptions", "NodeArg", "ModelMetadata", "get_available_providers",
           "get_all_providers"]
