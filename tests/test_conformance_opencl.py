"""The ONNX backend node suite run with providers=["opencl", "cpu"]: OpenCL must never make a
result wrong. Every case the CPU provider passes must pass here too (nodes OpenCL refuses fall
back to the CPU); the CPU provider's expected failures (`conformance_expected_failures.txt`) are
expected failures here as well, and cases that fail only with OpenCL are listed, with a reason,
in `conformance_expected_failures_opencl.txt` (empty is the goal). The counts of both runs are
printed at the end (tests/conftest.py). Skipped as a whole without an OpenCL device.
"""

from __future__ import annotations

import pathlib

import pytest

from tests.opencl_support import REASON
from tests.test_conformance import provider_backend_test

if REASON is not None:
    pytest.skip(f"OpenCL unavailable: {REASON}", allow_module_level=True)

OPENCL_FAILURES_FILE = pathlib.Path(__file__).with_name("conformance_expected_failures_opencl.txt")

backend_test = provider_backend_test(["opencl", "cpu"], __name__, OPENCL_FAILURES_FILE)

globals().update(backend_test.test_cases)
