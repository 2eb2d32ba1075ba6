"""onnxruntime's execution provider names, and which ep-runtime provider each stands for."""

from __future__ import annotations

#: every provider name onnxruntime knows (its get_all_providers() of a full build)
ORT_PROVIDER_NAMES = (
    "TensorrtExecutionProvider", "CUDAExecutionProvider", "MIGraphXExecutionProvider", "ROCMExecutionProvider",
    "OpenVINOExecutionProvider", "DnnlExecutionProvider", "VitisAIExecutionProvider", "QNNExecutionProvider",
    "NnapiExecutionProvider", "VSINPUExecutionProvider", "JsExecutionProvider", "CoreMLExecutionProvider",
    "ArmNNExecutionProvider", "ACLExecutionProvider", "DmlExecutionProvider", "RknpuExecutionProvider",
    "WebNNExecutionProvider", "WebGpuExecutionProvider", "XnnpackExecutionProvider", "CANNExecutionProvider",
    "AzureExecutionProvider", "CPUExecutionProvider",
)


def is_onnxruntime_provider_name(name: str) -> bool:
    """Whether `name` is a provider onnxruntime knows (ep-runtime may not have it)."""
    return name in ORT_PROVIDER_NAMES


__all__ = ["ORT_PROVIDER_NAMES", "is_onnxruntime_provider_name"]
