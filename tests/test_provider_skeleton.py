"""The provider skeleton: compile options passed explicitly (old one-argument compiles still work), every
built-in provider laid out alike, device providers on one core base, synchronize() called by the profiler."""

from __future__ import annotations

import importlib
import json
import pathlib
import re

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import ep_runtime as ep
from ep_runtime import hookimpl
from ep_runtime.device_provider import DeviceProvider
from ep_runtime.provider import HOST, CompileOptions, ExecutionProvider
from tests.helpers.models import F, const, make_model
from tests.helpers.plugins import registered_plugin
from tests.sim_device import SimDeviceProvider

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _chain():
    nodes = [helper.make_node("Add", ["x", "x"], ["a"], name="add"),
             helper.make_node("Relu", ["a"], ["y"], name="relu")]
    return make_model(nodes, [("x", F, [3])], [("y", F, [3])])


def _options(level=ep.GraphOptimizationLevel.ORT_ENABLE_ALL, profile_dir=None):
    opts = ep.SessionOptions()
    opts.graph_optimization_level = level
    if profile_dir is not None:
        opts.enable_profiling = True
        opts.profile_file_prefix = str(profile_dir / "profile")
    return opts


def _events(sess):
    with open(sess.end_profiling(), encoding="utf-8") as fh:
        return json.load(fh)


class LegacySim(SimDeviceProvider):
    """A provider written against the contract before CompileOptions: compile takes the subgraph alone and
    reads the options from it."""

    name = "LegacySimExecutionProvider"
    aliases = ("legacysim",)
    device = "legacysim"
    seen: list = []

    def compile(self, subgraph):
        type(self).seen.append((subgraph.optimization_level, subgraph.profiler is not None))
        return super().compile(subgraph)


class OptionsSim(SimDeviceProvider):
    """A provider of the current contract: records the CompileOptions it is given."""

    name = "OptionsSimExecutionProvider"
    aliases = ("optionssim",)
    device = "optionssim"
    seen: list = []

    def compile(self, subgraph, options):
        type(self).seen.append(options)
        return super().compile(subgraph, options)


class _Plugin:
    @hookimpl
    def ep_runtime_providers(self):
        return [LegacySim, OptionsSim]


@pytest.fixture
def sims():
    LegacySim.seen, OptionsSim.seen = [], []
    with registered_plugin(_Plugin(), "test-provider-skeleton"):
        yield


def test_a_provider_whose_compile_takes_only_the_subgraph_still_runs_and_profiles(sims, tmp_path):
    sess = ep.InferenceSession(_chain(), _options(ep.GraphOptimizationLevel.ORT_ENABLE_BASIC, tmp_path),
                               providers=["legacysim", "cpu"])
    np.testing.assert_array_equal(sess.run(None, {"x": np.array([-1, 0, 2], np.float32)})[0], [0, 0, 4])
    assert LegacySim.seen == [(1, True)]
    nodes = {e["args"]["node"]: e["args"]["provider"] for e in _events(sess) if e["cat"] == "Node"}
    assert nodes["'add' (Add)"] == "LegacySimExecutionProvider"


def test_compile_gets_the_sessions_options_and_the_partitions_subgraphs_stay_as_planned(sims, tmp_path):
    sess = ep.InferenceSession(_chain(), _options(ep.GraphOptimizationLevel.ORT_DISABLE_ALL, tmp_path),
                               providers=["optionssim", "cpu"])
    (options,) = OptionsSim.seen
    assert isinstance(options, CompileOptions) and options.optimization_level == 0 and not options.fuse
    assert options.profiler is not None
    assert all(sg.profiler is None and sg.optimization_level == 99 for sg in sess.get_partition().subgraphs)
    OptionsSim.seen.clear()
    ep.InferenceSession(_chain(), providers=["optionssim", "cpu"])
    assert [(o.optimization_level, o.profiler) for o in OptionsSim.seen] == [(99, None)]


def _if_conv_relu_model():
    rng = np.random.default_rng(0)
    then = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["c"], name="conv"),
         helper.make_node("Relu", ["c"], ["out"], name="relu")],
        "then", [], [helper.make_tensor_value_info("out", F, [1, 2, 3, 3])],
        [onnx.numpy_helper.from_array(rng.standard_normal((2, 1, 1, 1)).astype(np.float32), "w")])
    other = helper.make_graph(
        [helper.make_node("Concat", ["x", "x"], ["out"], axis=1, name="twice")],
        "else", [], [helper.make_tensor_value_info("out", F, [1, 2, 3, 3])])
    nodes = [helper.make_node("If", ["cond"], ["y"], name="choose", then_branch=then, else_branch=other)]
    return make_model(nodes, [("cond", TensorProto.BOOL, []), ("x", F, [1, 1, 3, 3])], [("y", F, [1, 2, 3, 3])])


@pytest.mark.parametrize("level, fused", [(ep.GraphOptimizationLevel.ORT_DISABLE_ALL, False),
                                          (ep.GraphOptimizationLevel.ORT_ENABLE_ALL, True)])
def test_body_graphs_compile_with_the_options_of_their_node(tmp_path, level, fused):
    sess = ep.InferenceSession(_if_conv_relu_model(), _options(level, tmp_path), providers=["cpu"])
    sess.run(None, {"cond": np.array(True), "x": np.ones((1, 1, 3, 3), np.float32)})
    body = [e["name"] for e in _events(sess) if e["cat"] == "Node" and e["args"].get("parent") == "'choose' (If)"]
    assert body
    assert ("'choose' (If)/then_branch/'relu' (Relu)" not in body) == fused


def test_every_built_in_provider_package_has_the_same_skeleton():
    for package in ("cpu", "opencl", "cuda", "embedded_c"):
        provider_module = importlib.import_module(f"providers.{package}.provider")
        plugin = importlib.import_module(f"providers.{package}.plugin")
        (cls,) = plugin.ep_runtime_providers()
        assert cls.__module__ == provider_module.__name__, package
        assert getattr(importlib.import_module(f"providers.{package}"), cls.__name__) is cls
        if package != "embedded_c":  # it lowers nodes to C calls: no kernel registry
            assert cls.registry is importlib.import_module(f"providers.{package}.registry").REGISTRY


def test_every_built_in_provider_says_how_to_wait_for_its_device():
    from providers.cpu import CPUExecutionProvider
    from providers.cuda import CUDAExecutionProvider
    from providers.embedded_c import EmbeddedCExecutionProvider
    from providers.opencl import OpenCLExecutionProvider

    for cls in (CPUExecutionProvider, CUDAExecutionProvider, EmbeddedCExecutionProvider, OpenCLExecutionProvider):
        assert "synchronize" in vars(cls), cls.name
    assert issubclass(CUDAExecutionProvider, DeviceProvider) and issubclass(OpenCLExecutionProvider, DeviceProvider)


class _Stream:
    def __init__(self):
        self.waits = 0

    def synchronize(self):
        self.waits += 1


@pytest.fixture
def cuda_stand_in(monkeypatch):
    """The CUDA provider with numpy standing in for CuPy (available without a GPU)."""
    from providers.cuda import ARRAY_MODULE_ENV

    monkeypatch.setenv(ARRAY_MODULE_ENV, "numpy")
    return ("cuda", {"array_module": "numpy"})


def test_profiling_waits_for_the_cuda_stream_after_each_node_subgraph_and_copy_to_the_device(tmp_path, cuda_stand_in):
    cuda = cuda_stand_in
    sess = ep.InferenceSession(_chain(), _options(profile_dir=tmp_path), providers=[cuda])
    provider = sess._providers[0]
    assert set(sess.get_partition().assignment().values()) == {provider.name}
    provider.stream = stream = _Stream()
    sess.run(None, {"x": np.array([-1, 0, 2], np.float32)})
    assert stream.waits == 4  # x to the device, Add, Relu, the subgraph call (copies to the host wait themselves)
    plain = ep.InferenceSession(_chain(), providers=[cuda])
    plain._providers[0].stream = stream = _Stream()
    plain.run(None, {"x": np.array([-1, 0, 2], np.float32)})
    assert stream.waits == 0  # without profiling nothing waits


def test_device_providers_count_their_transfers_and_refuse_dtypes_they_cannot_hold(cuda_stand_in):
    from providers.cuda import CUDAExecutionProvider

    nodes = [helper.make_node("Identity", ["x"], ["y"], name="keep")]
    model = make_model(nodes, [("x", TensorProto.COMPLEX64, [2])], [("y", TensorProto.COMPLEX64, [2])])
    sess = ep.InferenceSession(model, providers=[cuda_stand_in, "cpu"])
    refusal = sess.get_partition().decisions[0].refusals["CUDAExecutionProvider"]
    assert (refusal.kind, refusal.reason) == ("dtype", "complex64 not supported on CUDAExecutionProvider")
    provider = CUDAExecutionProvider(array_module="numpy")
    value = provider.to_device(np.arange(3, dtype=np.float32))
    np.testing.assert_array_equal(provider.to_host(value), [0, 1, 2])
    assert (provider.to_device_calls, provider.to_host_calls) == (1, 1)


def test_the_host_device_is_one_constant():
    assert ExecutionProvider.device == HOST
    literal = re.compile(r"""(device\s*(==|!=|=)\s*|HOST\s*=\s*)["']cpu["']""")
    sources = [path for top in ("ep_runtime", "providers") for path in (ROOT / top).rglob("*.py")]
    found = [(str(path.relative_to(ROOT)), line) for path in sources for line in path.read_text().splitlines()
             if literal.search(line)]
    assert found == [("ep_runtime/provider.py", 'HOST = "cpu"')]


def test_conv_batchnorm_folding_is_one_piece_of_arithmetic():
    from ep_runtime.optimize import batchnorm_as_affine, fold_affine_into_conv

    rng = np.random.default_rng(1)
    scale, bias, mean = (rng.standard_normal(4) for _ in range(3))
    var = rng.random(4) + 0.5
    factor, shift = batchnorm_as_affine(scale, bias, mean, var, 1e-3)
    x = rng.standard_normal(4)
    np.testing.assert_allclose(x * factor + shift, scale * (x - mean) / np.sqrt(var + 1e-3) + bias)
    w, b = rng.standard_normal((4, 2, 1, 1)).astype(np.float32), rng.standard_normal(4).astype(np.float32)
    new_w, new_b = fold_affine_into_conv(w, b, factor, shift)
    assert new_w.dtype == new_b.dtype == np.float32
    np.testing.assert_allclose(new_w[:, :, 0, 0], w[:, :, 0, 0] * factor[:, None], rtol=1e-6)
    np.testing.assert_allclose(new_b, b * factor + shift, rtol=1e-5)


def test_the_cpu_fusions_fold_a_batchnorm_after_a_scaled_conv_as_the_graph_fold_does():
    rng = np.random.default_rng(2)
    params = [const(n, v.astype(np.float32)) for n, v in (
        ("w", rng.standard_normal((3, 2, 3, 3))), ("k", rng.standard_normal((1, 3, 1, 1))),
        ("s", rng.standard_normal(3)), ("b", rng.standard_normal(3)), ("m", rng.standard_normal(3)),
        ("v", rng.random(3) + 0.5))]
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv"),
             helper.make_node("Mul", ["c", "k"], ["ck"], name="scale"),
             helper.make_node("BatchNormalization", ["ck", "s", "b", "m", "v"], ["y"], name="bn")]
    model = make_model(nodes, [("x", F, [1, 2, 5, 5])], [("y", F, [1, 3, 3, 3])], params)
    x = rng.standard_normal((1, 2, 5, 5)).astype(np.float32)
    fused = ep.InferenceSession(model, providers=["cpu"])
    plain = ep.InferenceSession(model, _options(ep.GraphOptimizationLevel.ORT_DISABLE_ALL), providers=["cpu"])
    np.testing.assert_allclose(fused.run(None, {"x": x})[0], plain.run(None, {"x": x})[0], rtol=1e-4, atol=1e-5)
