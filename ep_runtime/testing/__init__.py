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
pytest: `pytest --ep-provider opencl` (the plugin `ep_runtime.testing.pytest_plugin`). One kernel
(a C source, a Python `module:function`, or the installed one) is gated on the same cases with
`check_kernel("Relu", "my_relu.c")` or `ep-runtime check-kernel Relu=my_relu.c` (gate.py).
"""

from .cases import Case, edge_cases, onnx_cases
from .compare import Mismatch, compare_arrays, compare_outputs
from .gate import GateReport, check_kernel
from .report import CaseResult, CoverageRow, ModelResult, SelftestReport
from .runner import Selftest, light_models, run_selftest

__all__ = ["Case", "CaseResult", "CoverageRow", "GateReport", "Mismatch", "ModelResult", "Selftest", "SelftestReport",
           "check_kernel", "compare_arrays", "compare_outputs", "edge_cases", "light_models", "onnx_cases",
           "run_selftest"]
