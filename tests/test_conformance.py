"""The official ONNX backend test suite (node, simple, pytorch cases) run on ep-runtime's CPU provider.

`onnx.backend.test.BackendTest` generates the cases from the installed onnx package; our
`ep_runtime.backend` adapter runs them. Every case expected to fail is listed, with a one-line
reason, in `conformance_expected_failures.txt`: a listed case that passes fails the run
(unexpected success), so the list only shrinks, and an unlisted failure fails it too.
The pass count is printed at the end of the pytest run.

The real-model cases (`test_bvlc_alexnet` ... `test_zfnet512`) are the light models, which
`test_models_cpu.py` runs against onnxruntime; they are left out here to keep CI fast.

Cases whose expected output is a draw from an unseeded random generator cannot be compared
by value: `RANDOM_CASES` (Bernoulli, and its expansion through RandomUniformLike) are left out
here and checked on shape, dtype, range and statistics in `test_cpu_tensor_ops.py`
(`test_random_*`, `test_bernoulli_and_multinomial_frequencies`). Dropout in training mode is seeded in its cases and
is compared by value.
"""

from __future__ import annotations

import pathlib

import onnx.backend.test

from ep_runtime.backend import backend_for

EXPECTED_FAILURES_FILE = pathlib.Path(__file__).with_name("conformance_expected_failures.txt")
REAL_MODELS = ("bvlc_alexnet", "densenet121", "inception_v1", "inception_v2", "resnet50", "shufflenet",
               "squeezenet", "vgg19", "zfnet512")


def expected_failures(path: pathlib.Path = EXPECTED_FAILURES_FILE) -> dict[str, str]:
    """Case name -> reason, from lines `test_name: reason` (blank lines and # comments ignored)."""
    cases: dict[str, str] = {}
    if not path.exists():
        return cases
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, _, reason = line.partition(":")
        cases[name.strip()] = reason.strip()
    return cases


RANDOM_CASES = ("bernoulli", "bernoulli_double", "bernoulli_seed", "bernoulli_expanded", "bernoulli_double_expanded",
                "bernoulli_seed_expanded")


def provider_backend_test(providers: list[str], module_name: str,
                          *failure_files: pathlib.Path) -> onnx.backend.test.BackendTest:
    """The node suite run with `providers`: the random cases and the light models (tested on their
    own) left out, the CPU provider's expected failures and those of `failure_files` as xfail."""
    test = onnx.backend.test.BackendTest(backend_for(providers), module_name)
    test.include(r"_cpu$")
    for case in RANDOM_CASES:
        test.exclude(rf"^test_{case}_cpu$")
    for model in REAL_MODELS:
        test.exclude(rf"^test_{model}_cpu$")
    failures = expected_failures()
    for path in failure_files:
        failures.update(expected_failures(path))
    for case in failures:
        test.xfail(rf"^{case}_cpu$")
    return test


backend_test = provider_backend_test(["CPUExecutionProvider"], __name__)
globals().update(backend_test.test_cases)
