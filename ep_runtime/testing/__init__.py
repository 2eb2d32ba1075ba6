"""The provider developer kit: conformance checks a vendor runs against a provider.

For every op, version and dtype the provider claims, the kit runs onnx's backend node cases and
its own edge cases (odd sizes, broadcasting, empty, scalar, NaN/Inf, large magnitudes,
non-contiguous inputs) on the provider with CPU fallback off, compares each result with the
reference CPU provider (the built-in one, without plugin kernels), and runs the light models with
the provider first, checking their results and device copies.

    from ep_runtime.testing import run_selftest
    report = run_selftest("opencl", ops=["Relu", "Softmax"], models=[])
    print(report.table())

The same from the command line: `ep-runtime selftest -p opencl --ops Relu,Softmax`; and from
pytest: `pytest --ep-provider opencl` (the plugin `ep_runtime.testing.pytest_plugin`).
"""

from .cases import Case, edge_cases, onnx_cases
from .compare import Mismatch, compare_arrays, compare_outputs
from .report import CaseResult, CoverageRow, ModelResult, SelftestReport
from .runner import Selftest, light_models, run_selftest

__all__ = ["Case", "CaseResult", "CoverageRow", "Mismatch", "ModelResult", "Selftest", "SelftestReport",
           "compare_arrays", "compare_outputs", "edge_cases", "light_models", "onnx_cases", "run_selftest"]
