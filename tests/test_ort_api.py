"""onnxruntime's Python API as clients use it (issue 10): module functions, SessionOptions, OrtValue,
IOBinding, the capi exception classes, feeds, provider lists, metadata, logging, and the walk over
onnxruntime's public names against the documented omissions (docs/onnxruntime-compat.md)."""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
import textwrap
import threading
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

import ep_runtime as ep
from ep_runtime import ort_value
from ep_runtime.capi import onnxruntime_pybind11_state as capi_state
from ep_runtime.session_options import FIELDS_WITHOUT_EFFECT
from tests.helpers.models import F, const, make_model
from tests.helpers.plugins import registered_plugin

ROOT = Path(__file__).resolve().parent.parent
COMPAT_DOC = ROOT / "docs" / "onnxruntime-compat.md"


def relu_model(shape=(1, 3)) -> onnx.ModelProto:
    return make_model([helper.make_node("Relu", ["x"], ["y"])], [("x", F, list(shape))], [("y", F, list(shape))])


def add_model() -> onnx.ModelProto:
    return make_model([helper.make_node("Add", ["a", "b"], ["c"])], [("a", F, [2, 2]), ("b", F, [2, 2])],
                      [("c", F, [2, 2])])


def both(model: onnx.ModelProto, **kwargs):
    """An ep-runtime and an onnxruntime session of the same model."""
    data = model.SerializeToString()
    return (ep.InferenceSession(data, providers=["CPUExecutionProvider"], **kwargs),
            ort.InferenceSession(data, providers=["CPUExecutionProvider"], **kwargs))


# --------------------------------------------------------------------------- module functions

def test_get_device_is_cpu_without_cuda_and_gpu_with_it(monkeypatch):
    from tests.cuda_support import ARRAY_MODULE_ENV, GPU_REASON, plugin_registered

    monkeypatch.delenv(ARRAY_MODULE_ENV, raising=False)
    with plugin_registered():
        assert ep.get_device() == ("CPU" if GPU_REASON is not None else "GPU")
        monkeypatch.setenv(ARRAY_MODULE_ENV, "numpy")  # the CUDA provider becomes available
        assert ep.get_device() == "GPU"


def test_version_build_info_and_telemetry_switches():
    assert re.fullmatch(r"\d+\.\d+\.\d+", ep.get_version_string())
    assert "ep-runtime" in ep.get_build_info()
    assert ep.disable_telemetry_events() is None and ep.enable_telemetry_events() is None
    assert ep.has_collective_ops() is False


def test_default_logger_severity_sets_the_process_level_and_checks_its_argument():
    log = logging.getLogger("ep_runtime")
    before = log.level
    try:
        ep.set_default_logger_severity(3)
        assert log.level == logging.ERROR
        ep.set_default_logger_severity(0)
        assert log.level == logging.DEBUG
        with pytest.raises(ValueError, match="from 0 .* to 4"):
            ep.set_default_logger_severity(7)
        with pytest.raises(TypeError):
            ep.set_default_logger_severity("high")
        ep.set_default_logger_verbosity(1)
    finally:
        log.setLevel(before)


def test_session_log_severity_does_not_change_the_process_logger(caplog):
    log = logging.getLogger("ep_runtime")
    before = log.level
    opts = ep.SessionOptions()
    opts.log_severity_level = 0
    with caplog.at_level(logging.WARNING, logger="ep_runtime"):
        level = log.level
        ep.InferenceSession(relu_model(), opts)
        assert log.level == level  # the session's own level did not leak into the logger
    assert log.level == before


def test_set_seed_makes_unseeded_random_ops_repeat():
    model = make_model([helper.make_node("RandomUniform", [], ["y"], shape=[64], dtype=TensorProto.FLOAT)], [],
                       [("y", F, [64])])
    sess = ep.InferenceSession(model, providers=["cpu"])
    ep.set_seed(1234)
    first = [sess.run(None, {})[0] for _ in range(2)]
    ep.set_seed(1234)
    again = [sess.run(None, {})[0] for _ in range(2)]
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    assert not np.array_equal(first[0], first[1])  # one stream, not one value


# --------------------------------------------------------------------------- CPU provider options

def test_cpu_provider_accepts_onnxruntime_option_names():
    sess = ep.InferenceSession(relu_model(), providers=[("CPUExecutionProvider", {
        "arena_extend_strategy": "kSameAsRequested", "use_arena": "0", "initial_chunk_size_bytes": "1024"})])
    np.testing.assert_array_equal(sess.run(None, {"x": np.array([[-1, 0, 2]], np.float32)})[0], [[0, 0, 2]])
    assert sess.get_provider_options()["CPUExecutionProvider"]["arena_extend_strategy"] == "kSameAsRequested"
    with pytest.raises(ep.ProviderError, match=r"CPUExecutionProvider.*'arena_extend_stratgy'"):
        ep.InferenceSession(relu_model(), providers=[("CPUExecutionProvider", {"arena_extend_stratgy": "x"})])


# --------------------------------------------------------------------------- SessionOptions

def _fields(obj) -> set[str]:
    return {n for n in dir(obj) if not n.startswith("_") and not callable(getattr(obj, n))}


def test_session_options_have_onnxruntime_fields_and_defaults():
    ours, theirs = ep.SessionOptions(), ort.SessionOptions()
    assert _fields(theirs) <= _fields(ours)
    for name in _fields(theirs) - {"profile_file_prefix"}:  # ours names its own profile files
        assert int(getattr(ours, name)) == int(getattr(theirs, name)) if not isinstance(getattr(ours, name), str) \
            else getattr(ours, name) == getattr(theirs, name), name
    assert FIELDS_WITHOUT_EFFECT <= _fields(theirs)


def test_session_options_refuse_unknown_attributes_and_wrong_types():
    opts = ep.SessionOptions()
    opts.enable_cpu_mem_arena = False  # an onnxruntime field: accepted
    opts.graph_optimization_level = ep.GraphOptimizationLevel.ORT_ENABLE_BASIC
    opts.execution_mode = ep.ExecutionMode.ORT_PARALLEL
    with pytest.raises(AttributeError, match="enable_cpu_mem_arna"):
        opts.enable_cpu_mem_arna = False
    with pytest.raises(TypeError, match="intra_op_num_threads must be an int"):
        opts.intra_op_num_threads = "4"
    with pytest.raises(TypeError, match="graph_optimization_level must be one of"):
        opts.graph_optimization_level = 5


def test_session_config_entries_and_strict_mode_entry():
    opts = ep.SessionOptions()
    opts.add_session_config_entry("session.disable_cpu_ep_fallback", "1")
    assert opts.disable_cpu_ep_fallback is True
    assert opts.get_session_config_entry("session.disable_cpu_ep_fallback") == "1"
    with pytest.raises(KeyError, match="nope"):
        opts.get_session_config_entry("nope")


def test_add_initializer_replaces_the_model_initializer_and_checks_it():
    model = make_model([helper.make_node("Add", ["x", "w"], ["y"])], [("x", F, [2])], [("y", F, [2])],
                       initializers=[const("w", np.array([1, 1], np.float32))])
    opts = ep.SessionOptions()
    opts.add_initializer("w", ep.OrtValue.ortvalue_from_numpy(np.array([10, 20], np.float32)))
    sess = ep.InferenceSession(model, opts)
    np.testing.assert_array_equal(sess.run(None, {"x": np.zeros(2, np.float32)})[0], [10, 20])
    bad = ep.SessionOptions()
    bad.add_initializer("w", np.zeros(3, np.float32))
    with pytest.raises(ep.InvalidArgument, match=r"'w' has dtype float32 and shape \[3\]"):
        ep.InferenceSession(model, bad)
    missing = ep.SessionOptions()
    missing.add_initializer("nope", np.zeros(2, np.float32))
    with pytest.raises(ep.InvalidArgument, match="no initializer named 'nope'"):
        ep.InferenceSession(model, missing)


def test_free_dimension_override_fixes_a_symbolic_input_dim():
    model = make_model([helper.make_node("Relu", ["x"], ["y"])], [("x", F, ["batch", 3])], [("y", F, ["batch", 3])])
    opts = ep.SessionOptions()
    opts.add_free_dimension_override_by_name("batch", 2)
    sess = ep.InferenceSession(model, opts)
    assert sess.get_inputs()[0].shape == [2, 3]
    with pytest.raises(ep.InvalidArgument, match="expected 2"):
        sess.run(None, {"x": np.zeros((5, 3), np.float32)})


def test_add_provider_is_used_when_no_providers_are_given():
    opts = ep.SessionOptions()
    assert not opts.has_providers()
    opts.add_provider("CPUExecutionProvider", {"arena_extend_strategy": "kNextPowerOfTwo"})
    assert opts.has_providers()
    sess = ep.InferenceSession(relu_model(), opts)
    assert sess.get_provider_options() == {"CPUExecutionProvider": {"arena_extend_strategy": "kNextPowerOfTwo"}}


def test_load_cancellation_flag_stops_session_creation():
    opts = ep.SessionOptions()
    opts.set_load_cancellation_flag(True)
    with pytest.raises(ep.ModelLoadCancelled, match="set_load_cancellation_flag"):
        ep.InferenceSession(relu_model(), opts)
    with pytest.raises(capi_state.ModelLoadCanceled):
        ep.InferenceSession(relu_model(), opts)


def _blas_reachable() -> bool:
    threadpoolctl = pytest.importorskip("threadpoolctl")
    return any(i["user_api"] == "blas" for i in threadpoolctl.threadpool_info())


def test_intra_op_num_threads_caps_blas_threads_during_a_run():
    if not _blas_reachable():
        pytest.skip("no BLAS library threadpoolctl can see")
    import threadpoolctl

    seen: list[int] = []

    class ProbeProvider(ep.KernelProvider):
        name = "ProbeThreadsExecutionProvider"
        registry = ep.KernelRegistry()

    @ProbeProvider.registry.kernel("Relu", since=1)
    def relu(x):
        seen.append(max(i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"))
        return np.maximum(x, 0)

    class Plugin:
        @ep.hookimpl
        def ep_runtime_providers(self):
            return [ProbeProvider]

    with registered_plugin(Plugin(), "test-probe-threads"):
        opts = ep.SessionOptions()
        opts.intra_op_num_threads = 1
        sess = ep.InferenceSession(relu_model(), opts, providers=["ProbeThreadsExecutionProvider"])
        sess.run(None, {"x": np.ones((1, 3), np.float32)})
    assert seen == [1]


# --------------------------------------------------------------------------- feeds and introspection

def test_run_converts_python_lists_to_the_declared_dtype():
    ours, theirs = both(relu_model())
    feed = {"x": [[-1, 0, 2]]}  # ints, for a float input
    got = ours.run(None, feed)[0]
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, theirs.run(None, feed)[0])
    with pytest.raises(ep.InvalidArgument, match="input 'x' was given as a list that does not convert"):
        ours.run(None, {"x": [["a", "b", "c"]]})


def test_a_dim_declared_minus_one_is_dynamic():
    model = make_model([helper.make_node("Relu", ["x"], ["y"])], [("x", F, [-1, 3])], [("y", F, [-1, 3])])
    ours, theirs = both(model)
    for n in (1, 4):
        x = np.random.default_rng(n).standard_normal((n, 3)).astype(np.float32)
        np.testing.assert_array_equal(ours.run(None, {"x": x})[0], theirs.run(None, {"x": x})[0])
    assert ours.get_inputs()[0].shape == theirs.get_inputs()[0].shape == [None, 3]


def test_outputs_show_no_invented_dim_names():
    x = helper.make_tensor_value_info("x", F, [None, 3])
    x2 = helper.make_tensor_value_info("x2", F, [None, "n"])
    y = helper.make_tensor_value_info("y", F, None)
    z = helper.make_tensor_value_info("z", F, [None, 6])
    nodes = [helper.make_node("Add", ["x", "x2"], ["y"]), helper.make_node("Concat", ["y", "y"], ["z"], axis=1)]
    model = helper.make_model(helper.make_graph(nodes, "g", [x, x2], [y, z]),
                              opset_imports=[helper.make_opsetid("", 17)])
    ours, theirs = both(model)
    shown = [o.shape for o in ours.get_outputs()]
    assert not any(isinstance(d, str) and d.startswith("unk__") for s in shown for d in (s or []))
    assert [o.shape for o in ours.get_inputs()] == [o.shape for o in theirs.get_inputs()]
    assert shown[1] == theirs.get_outputs()[1].shape == [None, 6]


def test_modelmeta_version_is_the_models_or_onnxruntimes_unset_value():
    ours, theirs = both(relu_model())
    assert ours.get_modelmeta().version == theirs.get_modelmeta().version == 2**63 - 1
    model = relu_model()
    model.model_version = 42
    ours, theirs = both(model)
    assert ours.get_modelmeta().version == theirs.get_modelmeta().version == 42


def test_an_onnxruntime_provider_ep_runtime_lacks_is_skipped_with_a_warning():
    with pytest.warns(UserWarning, match="'TensorrtExecutionProvider' is an onnxruntime provider ep-runtime does not"):
        sess = ep.InferenceSession(relu_model(), providers=["TensorrtExecutionProvider", "CPUExecutionProvider"])
    assert sess.get_providers() == ["CPUExecutionProvider"]
    with pytest.raises(ep.ProviderError, match="unknown execution provider 'TensorrtExecutionProvidr'"):
        ep.InferenceSession(relu_model(), providers=["TensorrtExecutionProvidr"])


# --------------------------------------------------------------------------- capi exception classes

def test_capi_modules_have_onnxruntime_exception_classes():
    from ep_runtime.capi import _pybind_state

    for name in ("Fail", "InvalidArgument", "NoSuchFile", "InvalidGraph", "RuntimeException", "NotImplemented",
                 "InvalidProtobuf", "EPFail", "NoModel", "EngineError", "ModelLoaded"):
        cls = getattr(capi_state, name)
        assert getattr(_pybind_state, name) is cls
        assert issubclass(cls, Exception) and getattr(ort.capi.onnxruntime_pybind11_state, name)


def test_ep_runtime_errors_are_caught_as_onnxruntime_classes(tmp_path):
    sess = ep.InferenceSession(relu_model())
    with pytest.raises(capi_state.InvalidArgument, match="dtype int64"):
        sess.run(None, {"x": np.zeros((1, 3), np.int64)})
    with pytest.raises(capi_state.NoSuchFile):
        ep.InferenceSession(str(tmp_path / "missing.onnx"))
    with pytest.raises(FileNotFoundError):
        ep.InferenceSession(str(tmp_path / "missing.onnx"))
    with pytest.raises(capi_state.InvalidProtobuf):
        ep.InferenceSession(b"not a model")
    unknown_op = make_model([helper.make_node("NoSuchOp", ["x"], ["y"], domain="example.none")], [("x", F, [1])],
                            [("y", F, [1])])
    unknown_op.opset_import.append(helper.make_opsetid("example.none", 1))
    with pytest.raises(capi_state.NotImplemented):
        ep.InferenceSession(unknown_op)
    cycle = make_model([helper.make_node("Relu", ["b"], ["a"]), helper.make_node("Relu", ["a"], ["b"])],
                       [("x", F, [1])], [("a", F, [1])])
    with pytest.raises(capi_state.InvalidGraph):
        ep.InferenceSession(cycle)
    assert issubclass(ep.KernelError, capi_state.RuntimeException)
    assert issubclass(ep.RunCancelled, capi_state.Fail)
    assert issubclass(ep.ProviderError, capi_state.EPFail)


# --------------------------------------------------------------------------- OrtValue

@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.int8, np.uint8, np.bool_, np.float16])
def test_ortvalue_matches_onnxruntimes_answers(dtype):
    array = (np.arange(6).reshape(2, 3) % 2).astype(dtype)
    ours, theirs = ep.OrtValue.ortvalue_from_numpy(array), ort.OrtValue.ortvalue_from_numpy(array)
    for method in ("device_name", "shape", "data_type", "element_type", "is_tensor", "has_value",
                   "tensor_size_in_bytes", "is_tensor_sequence", "is_sparse_tensor"):
        assert getattr(ours, method)() == getattr(theirs, method)(), method
    np.testing.assert_array_equal(ours.numpy(), array)


def test_ortvalue_from_shape_and_type_and_update_inplace():
    value = ep.OrtValue.ortvalue_from_shape_and_type([2, 2], np.float32)
    assert value.shape() == [2, 2] and value.element_type() == TensorProto.FLOAT
    value.update_inplace(np.ones((2, 2), np.float32))
    np.testing.assert_array_equal(value.numpy(), np.ones((2, 2)))
    with pytest.raises(ep.InvalidArgument, match="update_inplace"):
        value.update_inplace(np.ones(3, np.float32))
    assert ep.OrtValue.ortvalue_from_shape_and_type([3], TensorProto.INT64).numpy().dtype == np.int64


@pytest.fixture
def cuda_stand_in(monkeypatch):
    from tests.cuda_support import ARRAY_MODULE_ENV, plugin_registered

    monkeypatch.setenv(ARRAY_MODULE_ENV, "numpy")
    monkeypatch.setattr(ort_value, "_device_providers", {})
    with plugin_registered():
        yield


def test_ortvalue_on_a_device_copies_there_and_back(cuda_stand_in):
    array = np.arange(4, dtype=np.float32)
    value = ep.OrtValue.ortvalue_from_numpy(array, "cuda", 0)
    assert value.device_name() == "cuda"
    assert value.provider is not None and value.provider.name == "CUDAExecutionProvider"
    np.testing.assert_array_equal(value.numpy(), array)
    with pytest.raises(ep.ProviderError, match="unknown execution provider 'tpu'"):
        ep.OrtValue.ortvalue_from_numpy(array, "tpu", 0)


# --------------------------------------------------------------------------- IOBinding and OrtValue runs

def test_io_binding_runs_like_onnxruntimes():
    model = add_model()
    a = np.arange(4, dtype=np.float32).reshape(2, 2)
    results = []
    for rt in (ep, ort):
        sess = rt.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        binding = sess.io_binding()
        binding.bind_cpu_input("a", a)
        binding.bind_ortvalue_input("b", rt.OrtValue.ortvalue_from_numpy(a))
        binding.bind_output("c")
        sess.run_with_iobinding(binding)
        results.append((binding.copy_outputs_to_cpu()[0], binding.get_outputs()[0].numpy()))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][0])


def test_io_binding_writes_into_a_preallocated_output_and_takes_data_ptr_inputs():
    sess = ep.InferenceSession(add_model())
    a = ep.OrtValue.ortvalue_from_numpy(np.full((2, 2), 3, np.float32))
    out = ep.OrtValue.ortvalue_from_shape_and_type([2, 2], np.float32)
    binding = sess.io_binding()
    binding.bind_input("a", "cpu", 0, np.float32, [2, 2], a.data_ptr())
    binding.bind_cpu_input("b", np.ones((2, 2), np.float32))
    binding.bind_ortvalue_output("c", out)
    sess.run_with_iobinding(binding)
    np.testing.assert_array_equal(out.numpy(), np.full((2, 2), 4))
    assert binding.get_outputs()[0] is out
    with pytest.raises(ep.InvalidArgument, match="not the data_ptr"):
        binding.bind_input("a", "cpu", 0, np.float32, [2, 2], 12345)
    with pytest.raises(ep.InvalidArgument, match="dtype float32 shape"):
        binding.bind_input("a", "cpu", 0, np.float64, [2, 2], a.data_ptr())
    binding.clear_binding_inputs()
    with pytest.raises(ep.InvalidArgument, match="missing input"):
        sess.run_with_iobinding(binding)
    binding.clear_binding_outputs()
    with pytest.raises(ep.InvalidArgument, match="no output is bound"):
        sess.run_with_iobinding(binding)


def test_io_binding_output_bound_to_a_device_lands_there(cuda_stand_in):
    sess = ep.InferenceSession(add_model())
    binding = sess.io_binding()
    binding.bind_ortvalue_input("a", ep.OrtValue.ortvalue_from_numpy(np.ones((2, 2), np.float32), "cuda", 0))
    binding.bind_cpu_input("b", np.ones((2, 2), np.float32))
    binding.bind_output("c", "cuda", 0)
    sess.run_with_iobinding(binding)
    (out,) = binding.get_outputs()
    assert out.device_name() == "cuda"
    np.testing.assert_array_equal(out.numpy(), np.full((2, 2), 2))


def test_run_with_ort_values_returns_ortvalues():
    sess = ep.InferenceSession(add_model())
    v = ep.OrtValue.ortvalue_from_numpy(np.ones((2, 2), np.float32))
    (out,) = sess.run_with_ort_values(["c"], {"a": v, "b": v})
    assert isinstance(out, ep.OrtValue) and out.data_type() == "tensor(float)"
    np.testing.assert_array_equal(out.numpy(), np.full((2, 2), 2))


def test_run_async_calls_back_with_results_or_the_error():
    sess = ep.InferenceSession(relu_model())
    done = threading.Event()
    got: list = []

    def callback(results, user_data, err):
        got.append((results, user_data, err))
        done.set()

    sess.run_async(None, {"x": np.array([[-1, 1, 2]], np.float32)}, callback, "tag")
    assert done.wait(30)
    np.testing.assert_array_equal(got[0][0][0], [[0, 1, 2]])
    assert got[0][1:] == ("tag", "")
    done.clear()
    sess.run_async(None, {"nope": np.zeros(1)}, callback, None)
    assert done.wait(30)
    assert got[1][0] is None and "unknown input name" in got[1][2]


# --------------------------------------------------------------------------- session methods

def test_overridable_initializers_profiling_and_tuning():
    x = helper.make_tensor_value_info("x", F, [2])
    w = helper.make_tensor_value_info("w", F, [2])
    y = helper.make_tensor_value_info("y", F, [2])
    graph = helper.make_graph([helper.make_node("Add", ["x", "w"], ["y"])], "g", [x, w], [y],
                              [const("w", np.ones(2, np.float32))])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    ours, theirs = both(model)
    assert [(a.name, a.shape, a.type) for a in ours.get_overridable_initializers()] == \
        [(a.name, a.shape, a.type) for a in theirs.get_overridable_initializers()]
    assert ours.get_profiling_start_time_ns() == 0 and ours.end_profiling() == ""
    assert ours.get_tuning_results() == []


def test_set_providers_replaces_the_providers_and_fallback_can_be_switched(sim_plugin):
    sess = ep.InferenceSession(relu_model(), providers=["CPUExecutionProvider"])
    sess.set_providers([sim_plugin.SimDeviceProvider.name, "CPUExecutionProvider"])
    assert sim_plugin.SimDeviceProvider.name in sess.get_provider_options()
    np.testing.assert_array_equal(sess.run(None, {"x": np.array([[-1, 0, 1]], np.float32)})[0], [[0, 0, 1]])
    with pytest.raises(ep.ProviderError, match="does not understand"):
        sess.set_providers([("CPUExecutionProvider", {"bogus": 1}), "cpu"])
    assert sim_plugin.SimDeviceProvider.name in sess.get_provider_options()  # a failed change changes nothing
    np.testing.assert_array_equal(sess.run(None, {"x": np.array([[-1, 0, 1]], np.float32)})[0], [[0, 0, 1]])
    broken = [sim_plugin.SimDeviceProvider.name, ("CPUExecutionProvider", {"bogus": 1})]
    sess.enable_fallback()
    with pytest.warns(UserWarning, match="falling back to \\['CPUExecutionProvider'\\]"):
        sess.set_providers(broken)
    assert list(sess.get_provider_options()) == ["CPUExecutionProvider"]
    with pytest.raises(ep.ProviderError):  # as onnxruntime: fall back once, then fallback is off
        sess.set_providers(broken)
    sess.enable_fallback()
    sess.disable_fallback()
    with pytest.raises(ep.ProviderError):
        sess.set_providers(broken)


# --------------------------------------------------------------------------- install_as_onnxruntime

def _child(code: str, **env: str) -> dict:
    import os

    full = {**os.environ, **env}
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=full,
                         cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_install_as_onnxruntime_answers_import_onnxruntime_and_capi(tmp_path):
    path = tmp_path / "relu.onnx"
    onnx.save(relu_model(), path)
    out = _child(f"""
        import json, warnings
        import numpy as np
        import ep_runtime
        ep_runtime.install_as_onnxruntime()
        import onnxruntime as ort
        import onnxruntime.capi.onnxruntime_pybind11_state as state
        from onnxruntime.capi._pybind_state import Fail
        from onnxruntime.capi.onnxruntime_pybind11_state import InvalidArgument
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            sess = ort.InferenceSession({str(path)!r}, providers=["CUDAExecutionProvider", "CPUExecutionProvider"])
        y = sess.run(None, {{"x": [[-1.0, 0.0, 2.0]]}})[0]
        try:
            sess.run(None, {{"x": np.zeros((1, 3), np.int32)}})
            caught_bad_feed = False
        except InvalidArgument:
            caught_bad_feed = True
        print(json.dumps(dict(session=type(sess).__module__, y=y.tolist(), caught=caught_bad_feed,
                              version=ort.__version__, device=ort.get_device(), fail=Fail.__module__,
                              warned=[str(w.message) for w in caught], providers=sess.get_providers(),
                              state=state.__name__)))
    """)
    assert out["session"] == "ep_runtime.compat" and out["state"] == "ep_runtime.capi.onnxruntime_pybind11_state"
    assert out["y"] == [[0.0, 0.0, 2.0]] and out["caught"] is True
    assert out["version"].startswith(ep.get_version_string() + "+epruntime")
    assert out["providers"] == ["CPUExecutionProvider"] and out["device"] == "CPU"
    assert any("CUDAExecutionProvider" in w for w in out["warned"])


def test_install_as_onnxruntime_chooses_providers_from_the_environment(tmp_path):
    path = tmp_path / "relu.onnx"
    onnx.save(relu_model(), path)
    code = f"""
        import json, warnings
        import ep_runtime
        ep_runtime.install_as_onnxruntime()
        import onnxruntime as ort
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            sess = ort.InferenceSession({str(path)!r}, providers=[("TensorrtExecutionProvider", {{}}),
                                        ("CPUExecutionProvider", {{"arena_extend_strategy": "kSameAsRequested"}})])
        print(json.dumps(dict(options=sess.get_provider_options(), warned=[str(w.message) for w in caught])))
    """
    out = _child(code, EP_RUNTIME_PROVIDERS="cpu")
    assert out == {"options": {"CPUExecutionProvider": {"arena_extend_strategy": "kSameAsRequested"}}, "warned": []}
    if "EmbeddedCExecutionProvider" in ep.get_available_providers():
        out = _child(code, EP_RUNTIME_PROVIDERS="embedded_c,cpu")
        assert list(out["options"]) == ["EmbeddedCExecutionProvider", "CPUExecutionProvider"]


def test_nothing_is_installed_by_default():
    out = _child("""
        import json, sys
        import ep_runtime
        print(json.dumps(dict(installed="onnxruntime" in sys.modules)))
    """)
    assert out == {"installed": False}


# --------------------------------------------------------------------------- the walk over onnxruntime's names

def documented_omissions() -> dict[str, set[str]]:
    """The names docs/onnxruntime-compat.md lists as deliberately omitted, per API object."""
    text = COMPAT_DOC.read_text()
    section = text.split("### Deliberate omissions", 1)[1].split("\n## ", 1)[0]
    omitted: dict[str, set[str]] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and cells[0] and cells[0] not in ("Object", "---") and not cells[0].startswith("-"):
            omitted.setdefault(cells[0], set()).update(re.findall(r"`([A-Za-z_][A-Za-z0-9_]*)`", cells[1]))
    return omitted


def _public(obj) -> set[str]:
    return {n for n in dir(obj) if not n.startswith("_")}


API_OBJECTS = {
    "module": (lambda: ort, lambda: __import__("ep_runtime.compat", fromlist=["x"])._onnxruntime_module()),
    "InferenceSession": (lambda: ort.InferenceSession, lambda: ep.InferenceSession),
    "SessionOptions": (lambda: ort.SessionOptions(), lambda: ep.SessionOptions()),
    "RunOptions": (lambda: ort.RunOptions(), lambda: ep.RunOptions()),
    "OrtValue": (lambda: ort.OrtValue, lambda: ep.OrtValue),
    "IOBinding": (lambda: ort.IOBinding, lambda: ep.IOBinding),
}


@pytest.mark.parametrize("obj", list(API_OBJECTS))
def test_every_public_onnxruntime_name_exists_or_is_a_documented_omission(obj):
    theirs, ours = (f() for f in API_OBJECTS[obj])
    omitted = documented_omissions().get(obj, set())
    missing = sorted(_public(theirs) - _public(ours) - omitted)
    assert not missing, f"{obj}: onnxruntime names missing from ep-runtime and not documented as omitted: {missing}"
    stale = sorted(omitted & _public(ours))
    assert not stale, f"{obj}: documented as omitted but present: {stale}"


def test_the_omission_list_is_short():
    assert sum(len(v) for v in documented_omissions().values()) <= 80


def test_capi_exception_names_are_all_there():
    names = [n for n in _public(ort.capi.onnxruntime_pybind11_state)
             if isinstance(getattr(ort.capi.onnxruntime_pybind11_state, n), type)
             and issubclass(getattr(ort.capi.onnxruntime_pybind11_state, n), Exception)]
    assert names and all(hasattr(capi_state, n) for n in names), [n for n in names if not hasattr(capi_state, n)]


def test_accepted_without_effect_fields_are_documented():
    text = COMPAT_DOC.read_text()
    for name in FIELDS_WITHOUT_EFFECT:
        assert f"`{name}`" in text, name
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        opts = ep.SessionOptions()
        for name in FIELDS_WITHOUT_EFFECT:
            setattr(opts, name, getattr(opts, name))  # accepted, silently


def test_io_binding_keeps_device_values_on_the_device_without_host_copies():
    if "OpenCLExecutionProvider" not in ep.get_available_providers():
        pytest.skip("no OpenCL device here")
    sess = ep.InferenceSession(add_model(), providers=["OpenCLExecutionProvider", "CPUExecutionProvider"])
    assert set(sess.get_partition().assignment().values()) == {"OpenCLExecutionProvider"}
    (device,) = [p for p in sess._providers if p.name == "OpenCLExecutionProvider"]
    a = np.arange(4, dtype=np.float32).reshape(2, 2)
    binding = sess.io_binding()
    binding.bind_ortvalue_input("a", ep.OrtValue.ortvalue_from_numpy(a, "opencl", 0))
    binding.bind_ortvalue_input("b", ep.OrtValue.ortvalue_from_numpy(a, "opencl", 0))
    binding.bind_output("c", "opencl", 0)
    before = (device.to_device_calls, device.to_host_calls)
    sess.run_with_iobinding(binding)
    assert (device.to_device_calls, device.to_host_calls) == before  # nothing went through the host
    (out,) = binding.get_outputs()
    assert out.device_name() == "opencl"
    np.testing.assert_array_equal(out.numpy(), 2 * a)
    np.testing.assert_array_equal(sess.run(None, {"a": a, "b": a})[0], 2 * a)  # the host plan still works
    with pytest.raises(ep.InvalidArgument, match="input 'a' has dtype float64"):
        sess.run_with_ort_values(None, {"a": ep.OrtValue.ortvalue_from_numpy(a.astype(np.float64), "opencl", 0),
                                        "b": ep.OrtValue.ortvalue_from_numpy(a, "opencl", 0)})


def test_default_logger_callback_receives_session_messages_until_reset():
    log = logging.getLogger("ep_runtime")
    level, propagate = log.level, log.propagate
    got: list[tuple] = []
    try:
        ep.set_default_logger_callback(lambda *args: got.append(args), 1)
        opts = ep.SessionOptions()
        opts.logid = "my-session"
        ep.InferenceSession(relu_model(), opts)
        assert any(sev == 1 and logid == "my-session" and "session created" in msg
                   for sev, _, logid, _, msg in got), got
        ep.set_default_logger_callback(None)
        assert log.propagate is True
        count = len(got)
        ep.InferenceSession(relu_model(), opts)
        assert len(got) == count
        with pytest.raises(TypeError, match="callable"):
            ep.set_default_logger_callback("print")
    finally:
        ep.set_default_logger_callback(None)
        log.setLevel(level)
        log.propagate = propagate


def test_enums_have_onnxruntimes_members():
    for ours, theirs in ((ep.GraphOptimizationLevel, ort.GraphOptimizationLevel), (ep.ExecutionMode, ort.ExecutionMode),
                         (ep.ExecutionOrder, ort.ExecutionOrder)):
        assert {n: int(v) for n, v in ours.__members__.items()} == \
            {n: int(v) for n, v in theirs.__members__.items()}, ours
