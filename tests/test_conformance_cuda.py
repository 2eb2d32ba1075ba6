"""The ONNX backend node suite run with providers=["cuda", "cpu"]: CUDA must never make a result
wrong. Every case the CPU provider passes must pass here too (nodes CUDA refuses fall back to
the CPU); the CPU provider's expected failures (`conformance_expected_failures.txt`) are expected
failures here as well, and cases that fail only with CUDA are listed, with a reason, in
`conformance_expected_failures_cuda.txt` (empty is the goal). Skipped as a whole unless the
CUDA provider is available: a GPU with CuPy, or EP_RUNTIME_CUDA_ARRAY_MODULE=numpy to run the
suite on numpy standing in for CuPy.
"""

from __future__ import annotations

import pathlib

import pytest

from ep_runtime.plugins import get_plugin_manager
from providers.cuda import CUDAExecutionProvider
from providers.cuda import plugin as cuda_plugin
from tests.test_conformance import provider_backend_test

_REASON = CUDAExecutionProvider.unavailable_reason()
if _REASON is not None:
    pytest.skip(f"CUDA unavailable: {_REASON}", allow_module_level=True)

if not get_plugin_manager().is_registered(cuda_plugin):  # until the `cuda` entry point is installed
    get_plugin_manager().register(cuda_plugin, name="test-conformance-cuda")

CUDA_FAILURES_FILE = pathlib.Path(__file__).with_name("conformance_expected_failures_cuda.txt")

backend_test = provider_backend_test(["cuda", "cpu"], __name__, CUDA_FAILURES_FILE)

globals().update(backend_test.test_cases)
