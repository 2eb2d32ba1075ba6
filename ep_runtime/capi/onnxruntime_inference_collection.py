"""onnxruntime's `capi.onnxruntime_inference_collection`: the Python session classes."""

from ..io_binding import IOBinding
from ..ort_value import OrtValue
from ..session import InferenceSession

__all__ = ["IOBinding", "InferenceSession", "OrtValue"]
