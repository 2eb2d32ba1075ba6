"""onnxruntime's `capi` package as clients import it: `_pybind_state`, `onnxruntime_pybind11_state`,
`onnxruntime_inference_collection`, all answered by ep-runtime (see ep_runtime.compat)."""

from . import _pybind_state, onnxruntime_inference_collection, onnxruntime_pybind11_state

__all__ = ["_pybind_state", "onnxruntime_inference_collection", "onnxruntime_pybind11_state"]
