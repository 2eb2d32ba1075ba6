"""SessionOptions with onnxruntime's field set, and the model edits some of its settings ask for.

Fields with effect: `graph_optimization_level`, `enable_profiling`, `profile_file_prefix`,
`log_severity_level` (this session's messages only; -1 follows the process-wide level),
`logid` (prefixes this session's messages), `intra_op_num_threads` (the threads of the native
CPU kernels in this session's runs, 0 = the physical cores available; caps the BLAS threads too, with
threadpoolctl; see ep_runtime/threads.py), `disable_cpu_ep_fallback` (ep-runtime's strict mode),
`enable_cpu_mem_arena` (runs allocate through the host arena, which reuses the blocks of large freed
arrays; ep_runtime/host_arena.py).
Accepted without effect, because ep-runtime has no such machinery:
`enable_mem_pattern`, `enable_mem_reuse` (numpy owns memory), `execution_mode`,
`execution_order`, `inter_op_num_threads`, `use_per_session_threads` (nodes run one after the
other, in topological order), `use_deterministic_compute` (results are deterministic anyway),
`log_verbosity_level`, `optimized_model_filepath` (the optimized graph is not written out).
Setting any other attribute raises AttributeError, a value of the wrong type TypeError.
"""

from __future__ import annotations

import enum
import operator
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

from .errors import InvalidArgument
from .optimize import GraphOptimizationLevel
from .typed_fields import coerce_field

DISABLE_CPU_FALLBACK_KEY = "session.disable_cpu_ep_fallback"


class ExecutionMode(enum.IntEnum):
    """onnxruntime's execution modes; ep-runtime always runs nodes sequentially."""

    ORT_SEQUENTIAL = 0
    ORT_PARALLEL = 1


class ExecutionOrder(enum.IntEnum):
    """onnxruntime's node orders; ep-runtime always runs nodes in topological order."""

    DEFAULT = 0
    PRIORITY_BASED = 1
    MEMORY_EFFICIENT = 2


_FIELDS: dict[str, tuple[type, Any]] = {
    "enable_cpu_mem_arena": (bool, True),
    "enable_mem_pattern": (bool, True),
    "enable_mem_reuse": (bool, True),
    "enable_profiling": (bool, False),
    "execution_mode": (ExecutionMode, ExecutionMode.ORT_SEQUENTIAL),
    "execution_order": (ExecutionOrder, ExecutionOrder.DEFAULT),
    "graph_optimization_level": (GraphOptimizationLevel, GraphOptimizationLevel.ORT_ENABLE_ALL),
    "inter_op_num_threads": (int, 0),
    "intra_op_num_threads": (int, 0),
    "log_severity_level": (int, -1),
    "log_verbosity_level": (int, 0),
    "logid": (str, ""),
    "optimized_model_filepath": (str, ""),
    "profile_file_prefix": (str, "ep_runtime_profile"),
    "use_deterministic_compute": (bool, False),
    "use_per_session_threads": (bool, True),
    # ep-runtime's own: strict mode (also the config entry session.disable_cpu_ep_fallback = "1")
    "disable_cpu_ep_fallback": (bool, False),
}

#: fields onnxruntime has that ep-runtime stores without acting on them
FIELDS_WITHOUT_EFFECT = frozenset({
    "enable_mem_pattern", "enable_mem_reuse", "execution_mode", "execution_order",
    "inter_op_num_threads", "use_per_session_threads", "use_deterministic_compute", "log_verbosity_level",
    "optimized_model_filepath",
})


class SessionOptions:
    """Session settings with onnxruntime's fields and methods (see the module docstring for which act).

    `disable_cpu_ep_fallback = True` (or the config entry `session.disable_cpu_ep_fallback`
    = "1") turns on strict mode: any node that would fall back to the CPU is an error.
    """

    __slots__ = (*_FIELDS, "_config", "_initializers", "_dim_by_name", "_dim_by_denotation", "_providers",
                 "_load_cancelled")

    def __init__(self) -> None:
        for name, (_, default) in _FIELDS.items():
            object.__setattr__(self, name, default)
        object.__setattr__(self, "_config", {})
        object.__setattr__(self, "_initializers", {})
        object.__setattr__(self, "_dim_by_name", {})
        object.__setattr__(self, "_dim_by_denotation", {})
        object.__setattr__(self, "_providers", [])
        object.__setattr__(self, "_load_cancelled", False)

    def __setattr__(self, name: str, value: Any) -> None:
        spec = _FIELDS.get(name)
        if spec is None:
            raise AttributeError(f"'SessionOptions' object has no attribute {name!r} (onnxruntime's SessionOptions "
                                 f"fields: {', '.join(sorted(_FIELDS))})")
        object.__setattr__(self, name, coerce_field("SessionOptions", name, spec[0], value))

    # ---- config entries ----
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

    # ---- model edits ----
    def add_initializer(self, name: str, value: Any) -> None:
        """Replace the model's initializer `name` by `value` (an OrtValue or numpy array) in sessions
        made with these options; its dtype and shape must match the model's."""
        self._initializers[str(name)] = _host_array(value, f"add_initializer({name!r})")

    def add_external_initializers(self, names: Sequence[str], values: Sequence[Any]) -> None:
        """`add_initializer` for each (name, value) pair (onnxruntime uses it to supply external data)."""
        if len(names) != len(values):
            raise InvalidArgument(f"add_external_initializers got {len(names)} names and {len(values)} values")
        for name, value in zip(names, values):
            self.add_initializer(name, value)

    def add_free_dimension_override_by_name(self, dim_name: str, dim_value: int) -> None:
        """Fix the symbolic input dimension `dim_name` to `dim_value` (feeds must then have that size)."""
        self._dim_by_name[str(dim_name)] = _dim(dim_value, dim_name)

    def add_free_dimension_override_by_denotation(self, denotation: str, dim_value: int) -> None:
        """Fix every input dimension with this denotation (e.g. DATA_BATCH) to `dim_value`."""
        self._dim_by_denotation[str(denotation)] = _dim(dim_value, denotation)

    # ---- providers ----
    def add_provider(self, provider_name: str, provider_options: Mapping[str, Any] | None = None) -> None:
        """Add an execution provider, used by sessions created without a `providers` argument."""
        self._providers.append((str(provider_name), dict(provider_options or {})))

    def has_providers(self) -> bool:
        """Whether `add_provider` was called."""
        return bool(self._providers)

    def set_load_cancellation_flag(self, value: bool) -> None:
        """With True, a session being created with these options stops at its next step (ModelLoadCancelled)."""
        object.__setattr__(self, "_load_cancelled", bool(value))

    @property
    def load_cancelled(self) -> bool:
        """Whether `set_load_cancellation_flag(True)` was called (and not reset)."""
        return self._load_cancelled

    @property
    def providers(self) -> list[tuple[str, dict[str, Any]]]:
        """The providers given with `add_provider`, as (name, options) pairs."""
        return list(self._providers)

    def edits_model(self) -> bool:
        """Whether these options change the model (initializer or dimension overrides)."""
        return bool(self._initializers or self._dim_by_name or self._dim_by_denotation)

    def apply_to_model(self, model: onnx.ModelProto) -> onnx.ModelProto:
        """A copy of `model` with the initializer and free-dimension overrides applied."""
        model = _copy(model)
        graph = model.graph
        by_name = {t.name: t for t in graph.initializer}
        for name, array in self._initializers.items():
            tensor = by_name.get(name)
            if tensor is None:
                raise InvalidArgument(f"add_initializer: the model has no initializer named {name!r}")
            want = (onnx.helper.tensor_dtype_to_np_dtype(tensor.data_type), tuple(tensor.dims))
            if (array.dtype, array.shape) != want:
                raise InvalidArgument(f"add_initializer: {name!r} has dtype {array.dtype} and shape {list(array.shape)}"
                                      f", the model's initializer has dtype {want[0]} and shape {list(want[1])}")
            tensor.CopyFrom(numpy_helper.from_array(array, name))
        for value in graph.input:
            if not value.type.HasField("tensor_type"):
                continue
            for d in value.type.tensor_type.shape.dim:
                size = self._dim_by_name.get(d.dim_param) if d.HasField("dim_param") else None
                if size is None and d.denotation:
                    size = self._dim_by_denotation.get(d.denotation)
                if size is not None:
                    d.dim_value = size
        return model

    def __repr__(self) -> str:
        fields = ", ".join(f"{f}={getattr(self, f)!r}" for f in _FIELDS)
        return f"SessionOptions({fields})"


def _copy(model: onnx.ModelProto) -> onnx.ModelProto:
    out = onnx.ModelProto()
    out.CopyFrom(model)
    return out


def _dim(value: Any, what: str) -> int:
    try:
        size = operator.index(value)
    except TypeError:
        raise TypeError(f"free dimension override {what!r} must be an int, got {type(value).__name__}") from None
    if size < 0:
        raise InvalidArgument(f"free dimension override {what!r} must be >= 0, got {size}")
    return size


def _host_array(value: Any, what: str) -> np.ndarray:
    numpy = getattr(value, "numpy", None)
    array = numpy() if callable(numpy) and not isinstance(value, np.ndarray) else value
    if not isinstance(array, np.ndarray):
        raise InvalidArgument(f"{what}: give an OrtValue or a numpy array, got {type(value).__name__}")
    return np.ascontiguousarray(array)


__all__ = ["SessionOptions", "ExecutionMode", "ExecutionOrder", "FIELDS_WITHOUT_EFFECT", "DISABLE_CPU_FALLBACK_KEY"]
