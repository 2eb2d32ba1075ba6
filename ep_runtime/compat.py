"""`install_as_onnxruntime()`: let an unchanged onnxruntime application run on ep-runtime (opt-in).

Like `pymysql.install_as_MySQLdb()`, it registers modules in `sys.modules`, so that afterwards
`import onnxruntime` and the submodules clients import (`onnxruntime.capi`,
`onnxruntime.capi._pybind_state`, `onnxruntime.capi.onnxruntime_pybind11_state`,
`onnxruntime.capi.onnxruntime_inference_collection`) are answered by ep-runtime. Nothing does this
by default. Call it before the application imports onnxruntime: modules that already imported the
real one keep it.

The `onnxruntime` module it installs is ep-runtime's namespace, except that `InferenceSession` is
`OnnxruntimeSession`, which behaves as onnxruntime's does where ep-runtime's default differs:
- the providers: the `providers` argument of install_as_onnxruntime, else the environment variable
  EP_RUNTIME_PROVIDERS (a comma list of ep-runtime provider names or aliases, e.g. `opencl,cpu`),
  replace the list the application passes (options the application gives for one of them are
  kept); with neither, the application's list is used: ep-runtime has `CPUExecutionProvider` and
  `CUDAExecutionProvider`, and any other onnxruntime provider (TensorRT, CoreML, DirectML, ...)
  is skipped with a warning, as onnxruntime skips one its build lacks;
- fallback is on: a provider that fails to set up is a warning and a retry on the CPU provider.
"""

from __future__ import annotations

import os
import sys
import types
import warnings
from collections.abc import Sequence
from typing import Any

from . import capi, ort_api
from .errors import ProviderError
from .ort_api import ORT_API_VERSION
from .registry import find_provider_class
from .session import InferenceSession
from .session_options import SessionOptions

PROVIDERS_ENV = "EP_RUNTIME_PROVIDERS"

#: the providers install_as_onnxruntime chose (None: the application's own list)
_chosen: list[str] | None = None


class OnnxruntimeSession(InferenceSession):
    """InferenceSession with onnxruntime's defaults: the installed provider choice, fallback on."""

    fallback_default = True

    def __init__(
        self,
        path_or_bytes: Any,
        sess_options: SessionOptions | None = None,
        providers: Sequence[Any] | None = None,
        provider_options: Sequence[dict[str, Any]] | None = None,
        **kwargs: Any,
    ) -> None:
        providers, provider_options = chosen_providers(providers, provider_options)
        super().__init__(path_or_bytes, sess_options, providers, provider_options, **kwargs)

    def set_providers(self, providers: Sequence[Any] | None = None,
                      provider_options: Sequence[dict[str, Any]] | None = None) -> None:
        """onnxruntime's set_providers, subject to the installed provider choice."""
        super().set_providers(*chosen_providers(providers, provider_options))


def chosen_providers(
    providers: Sequence[Any] | None, provider_options: Sequence[dict[str, Any]] | None
) -> tuple[list[Any] | None, list[dict[str, Any]] | None]:
    """The (providers, provider_options) a session made through the shim uses: the installed choice,
    keeping the options the application gave for a chosen provider; else the application's own."""
    if _chosen is None:
        return (list(providers) if providers is not None else None,
                list(provider_options) if provider_options is not None else None)
    given: dict[type, dict[str, Any]] = {}
    for k, item in enumerate(providers or []):
        name, opts = (item if isinstance(item, tuple) and len(item) == 2 else (item, {}))
        if provider_options is not None and k < len(provider_options):
            opts = {**dict(opts or {}), **dict(provider_options[k] or {})}
        try:
            given.setdefault(find_provider_class(str(name)), dict(opts or {}))
        except ProviderError:
            continue  # an onnxruntime provider ep-runtime lacks: the choice replaces it anyway
    return [(name, given.get(find_provider_class(name), {})) for name in _chosen], None


def _parse_choice(providers: Sequence[str] | str | None) -> list[str] | None:
    if providers is None:
        providers = os.environ.get(PROVIDERS_ENV) or None
    if providers is None:
        return None
    names = [p.strip() for p in providers.split(",")] if isinstance(providers, str) else [str(p) for p in providers]
    names = [n for n in names if n]
    if not names:
        return None
    for name in names:
        find_provider_class(name)  # an unknown name is a ProviderError now, not at the first session
    return names


def _onnxruntime_module() -> types.ModuleType:
    ep_runtime = sys.modules[__package__]  # the package's public names (it imports this module)
    module = types.ModuleType("onnxruntime", "onnxruntime's Python API answered by ep-runtime "
                                             "(installed by ep_runtime.install_as_onnxruntime()).")
    for name in ep_runtime.__all__:
        setattr(module, name, getattr(ep_runtime, name))
    for name in capi.onnxruntime_pybind11_state.__all__:
        setattr(module, name, getattr(capi.onnxruntime_pybind11_state, name))
    module.InferenceSession = OnnxruntimeSession
    module.capi = capi
    module.__version__ = module.version = f"{ORT_API_VERSION}+epruntime.{ep_runtime.__version__}"
    module.package_name = "ep-runtime"
    module.cuda_version = ort_api.cuda_version
    module.__all__ = sorted(n for n in vars(module) if not n.startswith("_") and n != "capi")
    return module


def install_as_onnxruntime(providers: Sequence[str] | str | None = None) -> types.ModuleType:
    """Make `import onnxruntime` (and its capi submodules) yield ep-runtime; returns the module.

    `providers` (or EP_RUNTIME_PROVIDERS, a comma list) chooses the ep-runtime providers every
    session uses, whatever the application asks; without either the application's list is used.
    """
    global _chosen
    previous = sys.modules.get("onnxruntime")
    if previous is not None and not getattr(previous, "__ep_runtime_shim__", False):
        warnings.warn("install_as_onnxruntime: the real onnxruntime was already imported; modules that imported "
                      "it keep it (call install_as_onnxruntime() before importing the application)",
                      UserWarning, stacklevel=2)
    _chosen = _parse_choice(providers)
    module = _onnxruntime_module()
    module.__ep_runtime_shim__ = True
    sys.modules["onnxruntime"] = module
    sys.modules["onnxruntime.capi"] = capi
    sys.modules["onnxruntime.capi._pybind_state"] = capi._pybind_state
    sys.modules["onnxruntime.capi.onnxruntime_pybind11_state"] = capi.onnxruntime_pybind11_state
    sys.modules["onnxruntime.capi.onnxruntime_inference_collection"] = capi.onnxruntime_inference_collection
    return module


__all__ = ["OnnxruntimeSession", "PROVIDERS_ENV", "chosen_providers", "install_as_onnxruntime"]
