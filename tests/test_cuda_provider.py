"""The CUDA provider as a provider: availability and its reasons, options, the numpy stand-in,
copies only at the partitioner's boundaries, refusals with reasons, runs from several threads."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from onnx import helper

import ep_runtime as ep
from ep_runtime.errors import ProviderError
from providers.cuda import ARRAY_MODULE_ENV, CUDAExecutionProvider
from tests.cuda_support import CUDA, GPU_REASON, cuda, plugin_registered, provider_of, stand_in
from tests.helpers.devices import assert_concurrent_runs_match
from tests.helpers.models import F, const, make_model

FIXTURES = (cuda, stand_in)  # the fixtures this module uses, imported from tests.cuda_support


def test_plugin_module_imports_without_cupy():
    code = ("import sys; sys.modules['cupy'] = None\n"
            "from providers.cuda import plugin, CUDAExecutionProvider as P\n"
            "import os; os.environ.pop('EP_RUNTIME_CUDA_ARRAY_MODULE', None)\n"
            "r = P.unavailable_reason(); assert r and 'CuPy is missing' in r, r; print(r)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "pip install" in out.stdout


@pytest.mark.skipif(GPU_REASON is None, reason="a GPU is present here")
def test_cuda_is_not_available_here_and_requesting_it_says_why(monkeypatch):
    monkeypatch.delenv(ARRAY_MODULE_ENV, raising=False)
    with plugin_registered():
        assert CUDA in ep.get_all_providers()
        assert CUDA not in ep.get_available_providers()
        assert not CUDAExecutionProvider.is_available()
        model = make_model([helper.make_node("Relu", ["x"], ["y"])], [("x", F, [2])], [("y", F, [2])])
        with pytest.warns(UserWarning) as record:  # as onnxruntime: warn and go on with the CPU provider
            ep.InferenceSession(model, providers=["cuda", "cpu"])
    msg = " ".join(str(w.message) for w in record)
    assert "CUDAExecutionProvider is not available" in msg
    assert "CuPy is missing" in msg or "no GPU" in msg


def test_stand_in_variable_makes_it_available(stand_in):
    assert CUDA in ep.get_available_providers()
    assert ep.get_available_providers()[-1] == "CPUExecutionProvider"


def test_unknown_and_invalid_options_are_errors(stand_in):
    model = make_model([helper.make_node("Relu", ["x"], ["y"])], [("x", F, [2])], [("y", F, [2])])
    with pytest.raises(ProviderError, match="does not understand option.*'devcie_id'"):
        ep.InferenceSession(model, providers=[("cuda", {"devcie_id": 0})])
    with pytest.raises(ProviderError, match="device_id must be an integer"):
        ep.InferenceSession(model, providers=[("cuda", {"device_id": "first"})])
    with pytest.raises(ProviderError, match="gpu_mem_limit must be >= 0"):
        ep.InferenceSession(model, providers=[("cuda", {"gpu_mem_limit": -1})])
    with pytest.raises(ProviderError, match="array_module must be one of"):
        ep.InferenceSession(model, providers=[("cuda", {"array_module": "torch"})])


def test_options_are_kept_and_onnxruntime_ones_accepted(stand_in):
    model = make_model([helper.make_node("Relu", ["x"], ["y"])], [("x", F, [2])], [("y", F, [2])])
    opts = {"array_module": "numpy", "device_id": 0, "gpu_mem_limit": 2 << 30,
            "arena_extend_strategy": "kSameAsRequested", "cudnn_conv_algo_search": "EXHAUSTIVE",
            "do_copy_in_default_stream": True}
    sess = ep.InferenceSession(model, providers=[("cuda", opts)])
    p = provider_of(sess)
    assert (p.device_id, p.gpu_mem_limit, p.device, p.stand_in) == (0, 2 << 30, "cuda:0", True)
    assert sess.get_providers() == [CUDA]


def mixed_model():
    """Add, Relu on CUDA; LSTM (no CUDA kernel) on the CPU; then Mul, MatMul back on CUDA."""
    rng = np.random.default_rng(0)
    n = helper.make_node
    nodes = [
        n("Add", ["x", "c"], ["a"], name="add"),
        n("Relu", ["a"], ["r"], name="relu"),
        n("Unsqueeze", ["r", "ax0"], ["r3"], name="unsq"),
        n("LSTM", ["r3", "W", "R"], ["", "yh"], hidden_size=8, name="lstm"),
        n("Squeeze", ["yh", "ax0"], ["h"], name="sq"),
        n("Mul", ["h", "r"], ["m"], name="mul"),
        n("MatMul", ["m", "w"], ["y"], name="matmul"),
    ]
    inits = [const("c", rng.standard_normal((1, 8)).astype(np.float32)),
             const("W", rng.standard_normal((1, 32, 8)).astype(np.float32) * 0.3),
             const("R", rng.standard_normal((1, 32, 8)).astype(np.float32) * 0.3),
             const("ax0", np.array([0], np.int64)),
             const("w", rng.standard_normal((8, 4)).astype(np.float32))]
    return make_model(nodes, [("x", F, [3, 8])], [("y", F, [3, 4])], inits)


def test_copies_happen_only_at_device_boundaries(cuda):
    sess = ep.InferenceSession(mixed_model(), providers=[cuda, "cpu"])
    part = sess.get_partition()
    where = part.assignment()
    assert where.pop("lstm") == "CPUExecutionProvider"
    assert set(where.values()) == {CUDA}
    lstm = next(d for d in part.to_dict()["nodes"] if d["node"] == "lstm")
    assert lstm["refusals"][CUDA] == {"kind": "op", "reason": "no kernel for ai.onnx::LSTM"}
    planned = {(c.value, c.dst) for c in part.copies}
    assert planned == {("x", "cuda:0"), ("r3", "cpu"), ("yh", "cuda:0"), ("y", "cpu")}, part.explain()
    p = provider_of(sess)
    x = np.random.default_rng(1).standard_normal((3, 8)).astype(np.float32)
    want = ep.InferenceSession(mixed_model(), providers=["cpu"]).run(None, {"x": x})[0]
    for runs in (1, 3):
        p.to_device_calls = p.to_host_calls = 0
        for _ in range(runs):
            np.testing.assert_allclose(sess.run(None, {"x": x})[0], want, rtol=1e-5, atol=1e-6)
        assert (p.to_device_calls, p.to_host_calls) == (2 * runs, 2 * runs)


def test_constants_are_copied_once_at_compile_time(cuda):
    sess = ep.InferenceSession(mixed_model(), providers=[cuda, "cpu"])
    p = provider_of(sess)
    p.to_device_calls = 0
    sess.run(None, {"x": np.ones((3, 8), np.float32)})
    assert p.to_device_calls == 2  # x and yh: the weights c and w went over when the session was made


def test_host_only_inputs_stay_on_the_host(cuda):
    """Reshape's shape computed on the device side of the graph is not copied to the device."""
    n = helper.make_node
    model = make_model([n("Relu", ["x"], ["r"]), n("Reshape", ["r", "s"], ["y"])], [("x", F, [2, 6])],
                       [("y", F, [3, 4])], [const("s", np.array([3, 4], np.int64))])
    sess = ep.InferenceSession(model, providers=[cuda, "cpu"])
    p = provider_of(sess)
    x = np.arange(12, dtype=np.float32).reshape(2, 6) - 5
    p.to_device_calls = p.to_host_calls = 0
    np.testing.assert_array_equal(sess.run(None, {"x": x})[0], np.maximum(x, 0).reshape(3, 4))
    assert (p.to_device_calls, p.to_host_calls) == (1, 1)


def test_refusals_say_why(stand_in):
    n = helper.make_node
    model = make_model([n("Resize", ["x", "", "sc"], ["y"], mode="cubic", name="cubic"),
                        n("Cast", ["y"], ["z"], to=16, name="to_bf16")],
                       [("x", F, [1, 1, 4, 4])], [("z", 16, None)], [const("sc", np.array([1, 1, 2, 2], np.float32))],
                       opset=19)
    part = ep.InferenceSession(model, providers=[stand_in, "cpu"]).get_partition()
    refusals = {d["node"]: d["refusals"].get(CUDA) for d in part.to_dict()["nodes"]}
    assert refusals["cubic"] == {"kind": "attribute", "reason": "Resize mode=cubic unsupported on CUDA"}
    assert refusals["to_bf16"]["kind"] == "dtype"


def test_runs_from_several_threads_do_not_interfere(cuda):
    from tests.device_support import transformer_block

    model = transformer_block()
    sess = ep.InferenceSession(model, providers=[cuda, "cpu"])
    ref = ep.InferenceSession(model, providers=["cpu"])
    rng = np.random.default_rng(2)
    feeds = [{"x": rng.standard_normal((2, 5 + k, 32)).astype(np.float32)} for k in range(6)]
    assert_concurrent_runs_match(sess, ref, feeds, repeats=5, rtol=1e-4, atol=1e-5)


# --------------------------------------------------------------------------- one set of kernels, two array modules

#: CUDA modules whose ops the CPU provider also has: their kernels must be the CPU's (shared) functions
SHARED_FAMILY_MODULES = ("providers.cuda.elementwise", "providers.cuda.reduce", "providers.cuda.tensor",
                         "providers.cuda.scatter_gather", "providers.cuda.resize", "providers.cuda.matmul",
                         "providers.cuda.normalization", "providers.cuda.pool")


def test_shared_families_run_the_cpu_kernels_and_only_device_launchers_are_cudas_own():
    from providers.cpu import elementwise as cpu_elementwise
    from providers.cpu.registry import REGISTRY as CPU_REGISTRY
    from providers.cuda.registry import REGISTRY as CUDA_REGISTRY

    def cpu_functions(op: str, domain: str) -> set:
        found = set()
        for k in CPU_REGISTRY.versions(op, domain):
            while k is not None:
                found.add(k.fn)
                k = k.fallback
        return found

    ufunc_ops = {**cpu_elementwise.BINARY_UFUNCS, **cpu_elementwise.UNARY_UFUNCS}
    own, foreign = set(), []
    for domain, op in CUDA_REGISTRY.ops():
        for k in CUDA_REGISTRY.versions(op, domain):
            module = k.fn.__module__
            if module in SHARED_FAMILY_MODULES:
                own.add(op)
            elif module == "providers.cpu._base":
                assert op in ufunc_ops and k.since == ufunc_ops[op][1], (op, k.version_range)
            elif module.startswith("providers.cpu."):
                if k.fn not in cpu_functions(op, domain):
                    foreign.append((op, k.fn.__qualname__))
    assert own == {"Gather", "Erf"}, own
    assert not foreign, f"CUDA kernels from CPU modules that the CPU does not register for their op: {foreign}"


def test_shared_kernels_keep_the_cpu_version_ranges():
    from providers.cuda.registry import REGISTRY as CUDA_REGISTRY

    def ranges(op: str) -> list[str]:
        return [k.version_range for k in CUDA_REGISTRY.versions(op)]

    assert ranges("ScatterElements") == ["11-15", "16-17", "18+"]
    assert ranges("Cast") == ["6-18", "19-23", "24+"]
    assert ranges("Sum") == ["8+"]  # from `since`, although the CPU's kernel starts at 6
    assert ranges("ReduceMean") == ["1-17", "18+"]


def test_sharing_a_function_the_cpu_does_not_register_for_the_op_is_an_error():
    from providers.cpu import elementwise as cpu_elementwise
    from providers.cuda.registry import share

    with pytest.raises(ValueError, match="is not a CPU kernel of Relu"):
        share("Relu", cpu_elementwise.Selu)


def _fake_array_module(monkeypatch: pytest.MonkeyPatch, name: str = "cupy"):
    """A stand-in module `name` in sys.modules with an `ndarray` type (never imported from anywhere)."""
    import types

    module = types.ModuleType(name)

    class ndarray:  # noqa: N801  (the name array modules give their array type)
        def __init__(self, dtype):
            self.dtype = np.dtype(dtype)

        def astype(self, dtype):
            return ndarray(dtype)

    ndarray.__module__ = name
    module.ndarray = ndarray
    monkeypatch.setitem(sys.modules, name, module)
    return module


def test_the_array_module_of_a_value_is_its_types_module_among_the_known_ones(monkeypatch):
    from ep_runtime.array_module import as_array, get_array_module

    fake = _fake_array_module(monkeypatch)
    a = fake.ndarray(np.float32)
    assert get_array_module(np.zeros(2), None, 1.5, a) is fake
    assert get_array_module(np.zeros(2), np.float32(1), None) is np
    assert get_array_module() is np
    assert as_array(a) is a
    assert as_array(a, np.float64).dtype == np.float64
    assert type(as_array(np.float32(2))) is np.ndarray

    class NotAnArray:
        pass

    NotAnArray.__module__ = "cupy"
    assert get_array_module(NotAnArray()) is np


def test_a_module_that_is_not_imported_is_never_the_array_module(monkeypatch):
    from ep_runtime.array_module import get_array_module

    class Lookalike:
        pass

    Lookalike.__module__ = "cupy"
    monkeypatch.delitem(sys.modules, "cupy", raising=False)
    assert get_array_module(Lookalike()) is np
    assert "cupy" not in sys.modules


def test_ufunc_at_combines_repeated_indices_and_is_none_where_a_module_has_none(monkeypatch):
    from ep_runtime.array_module import ufunc_at

    out = np.zeros(3)
    ufunc_at(np, "add")(out, np.array([0, 0, 2]), 1.0)
    np.testing.assert_array_equal(out, [2.0, 0.0, 1.0])
    assert ufunc_at(_fake_array_module(monkeypatch, "othermodule"), "multiply") is None


def test_the_shared_resize_takes_a_providers_raw_primitive_when_it_offers_one():
    from providers.cpu import resize

    x = np.random.default_rng(3).standard_normal((1, 2, 3, 4)).astype(np.float32)
    scales = np.array([1, 1, 2, 2], np.float32)
    calls = []

    class Device:
        def primitive(self, name):
            def launch(value, taps, out_shape):
                calls.append((name, sorted(taps), list(out_shape)))
                return np.full(out_shape, 7.0, np.float32)

            return launch if name == "resize_axes" else None

    class Declines:
        def primitive(self, name):
            return lambda *args: None

    y = resize.Resize(x, None, scales, None, mode="linear", _provider=Device())
    assert calls == [("resize_axes", [2, 3], [1, 2, 6, 8])] and (y == 7).all()
    want = resize.Resize(x, None, scales, None, mode="linear")
    np.testing.assert_array_equal(resize.Resize(x, None, scales, None, mode="linear", _provider=Declines()), want)


def test_cuda_offers_raw_primitives_only_on_cupy_and_its_resize_launcher_declines_what_it_cannot_do(stand_in):
    from providers.cuda import resize as cuda_resize

    assert CUDAExecutionProvider(array_module="numpy").primitive("resize_axes") is None
    taps = (np.zeros((5, 1), np.int64), None)
    assert cuda_resize.resize_axes(np.zeros((1, 2, 3), np.int32), {2: taps}, [1, 2, 5]) is None  # not a float
    assert cuda_resize.resize_axes(np.zeros((4, 2, 3), np.float32), {0: taps}, [5, 2, 3]) is None  # not the last two
