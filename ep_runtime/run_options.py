"""Per-run settings (onnxruntime's RunOptions) and the cancellation checkpoints of a run.

Cancellation is cooperative. `check_cancelled()` runs at checkpoints: when a run starts,
between the subgraphs of the top-level plan, and before every body-graph call of a
control-flow node (each Loop or Scan iteration, each If branch, each SequenceMap element).
It raises `RunCancelled` once the run's `RunOptions.terminate` is set (from any thread), or
`RunTimedOut` once the run has lasted longer than its `ep_runtime.run_timeout_ms` config
entry. A single kernel call is never interrupted, so a run stops at the next checkpoint.
A run without RunOptions pays one context-variable read per checkpoint.
"""

from __future__ import annotations

import contextvars
import math
import time
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from .errors import InvalidArgument, RunCancelled, RunTimedOut
from .typed_fields import coerce_field

RUN_TIMEOUT_KEY = "ep_runtime.run_timeout_ms"
TERMINATE_MESSAGE = "Exiting due to terminate flag being set to true."

_FIELDS: dict[str, type] = {
    "logid": str,
    "log_severity_level": int,
    "log_verbosity_level": int,
    "only_execute_path_to_fetches": bool,
    "terminate": bool,
}


class RunOptions:
    """Settings of one `InferenceSession.run` call, with onnxruntime's fields and methods.

    - `terminate`: set it to True (from any thread) to stop every run using these options at
      its next checkpoint with `RunCancelled`; runs started while it is True fail at once.
      Set it back to False to reuse the options.
    - `logid`: names the run in the warning logged when it is cancelled.
    - `log_severity_level`: -1 (the default) follows the session; 3 or 4 silence that warning.
    - `log_verbosity_level`: accepted for compatibility (ep-runtime has no verbose logs).
    - `only_execute_path_to_fetches`: accepted for compatibility; ep-runtime always runs the
      whole plan, so the requested outputs are the same either way.
    - Config entry `ep_runtime.run_timeout_ms` (an integer >= 0; 0 means none): stop the run
      with `RunTimedOut` at the first checkpoint after that many milliseconds.

    Setting an attribute onnxruntime's RunOptions lacks raises AttributeError, a value of the
    wrong type TypeError.
    """

    __slots__ = (*_FIELDS, "_config", "_timeout_s")

    def __init__(self) -> None:
        self.logid = ""
        self.log_severity_level = -1
        self.log_verbosity_level = 0
        self.only_execute_path_to_fetches = False
        self.terminate = False
        object.__setattr__(self, "_config", {})
        object.__setattr__(self, "_timeout_s", None)

    def __setattr__(self, name: str, value: Any) -> None:
        kind = _FIELDS.get(name)
        if kind is None:
            raise AttributeError(f"'RunOptions' object has no attribute {name!r}")
        object.__setattr__(self, name, coerce_field("RunOptions", name, kind, value))

    def add_run_config_entry(self, key: str, value: str) -> None:
        """Set a string config entry (onnxruntime's `add_run_config_entry`); unknown keys are kept."""
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError(f"add_run_config_entry takes (str, str), got ({type(key).__name__}, "
                            f"{type(value).__name__})")
        if key == RUN_TIMEOUT_KEY:
            object.__setattr__(self, "_timeout_s", _parse_timeout(value))
        self._config[key] = value

    def get_run_config_entry(self, key: str) -> str:
        """Read back a config entry; raises KeyError naming it when unset."""
        if key not in self._config:
            raise KeyError(f"run config entry {key!r} is not set")
        return self._config[key]

    def __repr__(self) -> str:
        fields = ", ".join(f"{f}={getattr(self, f)!r}" for f in _FIELDS)
        return f"RunOptions({fields}, config={self._config!r})"


def _parse_timeout(text: str) -> float | None:
    try:
        ms = float(text.strip())
    except ValueError:
        ms = math.nan
    if not math.isfinite(ms) or ms < 0:
        raise InvalidArgument(f"run config entry {RUN_TIMEOUT_KEY!r} must be a number of milliseconds >= 0 "
                              f"(0 = no timeout), got {text!r}")
    return ms / 1000.0 if ms else None


class RunControl:
    """The cancellation state of one run: the RunOptions it watches and its deadline."""

    __slots__ = ("options", "deadline")

    def __init__(self, options: RunOptions) -> None:
        self.options = options
        timeout = options._timeout_s
        self.deadline = time.monotonic() + timeout if timeout is not None else None

    def check(self, where: str) -> None:
        """Raise RunCancelled / RunTimedOut (saying `where` the run stopped) if the run must stop."""
        options = self.options
        if options.terminate:
            raise RunCancelled(f"run{_tag(options)} terminated {where}: {TERMINATE_MESSAGE} "
                               "(RunOptions.terminate; set it back to False to reuse these options)")
        if self.deadline is not None and time.monotonic() >= self.deadline:
            raise RunTimedOut(f"run{_tag(options)} cancelled {where}: it ran longer than its timeout of "
                              f"{options._config[RUN_TIMEOUT_KEY]} ms (run config entry {RUN_TIMEOUT_KEY!r})")


def _tag(options: RunOptions) -> str:
    return f" {options.logid!r}" if options.logid else ""


_active: contextvars.ContextVar[RunControl | None] = contextvars.ContextVar("ep_runtime_run_control", default=None)


def check_cancelled(where: str) -> None:
    """A checkpoint: raise if the run in progress on this thread was terminated or timed out."""
    control = _active.get()
    if control is not None:
        control.check(where)


class _Cancellable:
    """The block of one run watched by a RunControl (see cancellable)."""

    __slots__ = ("_control", "_token")

    def __init__(self, control: RunControl) -> None:
        self._control = control
        self._token: contextvars.Token[RunControl | None] | None = None

    def __enter__(self) -> None:
        self._control.check("before it started")
        self._token = _active.set(self._control)

    def __exit__(self, *exc: object) -> None:
        if self._token is not None:
            _active.reset(self._token)
            self._token = None


#: what cancellable(None) returns: the block runs under the enclosing run's state (nullcontext is reentrant)
_UNWATCHED = nullcontext()


def cancellable(options: RunOptions | None) -> AbstractContextManager[None]:
    """Make `options` the cancellation state of the run executed inside the block (checked once on entry).

    Without options the block runs under the enclosing run's state, if any."""
    if options is None:
        return _UNWATCHED
    if not isinstance(options, RunOptions):
        raise InvalidArgument(f"run_options must be an ep_runtime.RunOptions, got {type(options).__name__}")
    return _Cancellable(RunControl(options))
