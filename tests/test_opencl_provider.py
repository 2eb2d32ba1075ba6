"""The OpenCL provider as a provider: availability, options and device selection, transfers only
at subgraph boundaries, programs built once, refusals with reasons, runs from several threads."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
from onnx import helper

import ep_runtime as ep
from ep_runtime.errors import ProviderError
from tests.helpers.devices import assert_concurrent_runs_match
from tests.helpers.models import F, const, make_model
from tests.opencl_support import (
    DEVICES,
    REASON,
    needs_opencl,
    opencl_fixture,  # noqa: F401  (the `opencl` fixture: one per device)
)


def chain_model():
    """x -> MatMul -> Add -> Relu -> Sigmoid -> Mul(x2) -> Softmax: every node an OpenCL op."""
    rng = np.random.default_rng(0)
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["m"], name="matmul"),
        helper.make_node("Add", ["m", "b"], ["a"], name="add"),
        helper.make_node("Relu", ["a"], ["r"], name="relu"),
        helper.make_node("Sigmoid", ["r"], ["s"], name="sigmoid"),
        helper.make_node("Mul", ["s", "x2"], ["p"], name="mul"),
        helper.make_node("Softmax", ["p"], ["y"], name="softmax"),
    ]
    inits = [const("w", rng.standard_normal((16, 8)).astype(np.float32)),
             const("b", rng.standard_normal(8).astype(np.float32))]
    return make_model(nodes, [("x", F, ["N", 16]), ("x2", F, ["N", 8])], [("y", F, ["N", 8]), ("r", F, ["N", 8])],
                      inits)


def provider_of(sess):
    return next(p for p in sess._providers if p.name == "OpenCLExecutionProvider")


def test_plugin_imports_without_pyopencl_and_reports_why():
    """With pyopencl unimportable the plugin still loads; the provider is unavailable, with the reason."""
    code = textwrap.dedent("""
        import sys
        sys.modules["pyopencl"] = None
        from providers.opencl import plugin
        cls = plugin.ep_runtime_providers()[0]
        assert cls.is_available() is False
        print(cls.unavailable_reason())
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "pyopencl is not installed" in out.stdout


def test_no_platform_is_unavailable_and_a_clear_error(monkeypatch):
    from providers.opencl import provider, runtime

    monkeypatch.setattr(provider, "list_devices", lambda: [])
    monkeypatch.setattr(runtime, "list_devices", lambda: [])
    assert provider.OpenCLExecutionProvider.is_available() is False
    assert "no OpenCL platform" in provider.OpenCLExecutionProvider.unavailable_reason()
    if REASON is None:
        with pytest.raises(ProviderError, match="no OpenCL platform or device found"):
            provider.OpenCLExecutionProvider()


@needs_opencl
def test_listed_as_available():
    assert "OpenCLExecutionProvider" in ep.get_available_providers()


@needs_opencl
def test_unknown_options_are_rejected():
    with pytest.raises(ProviderError, match="does not understand option"):
        ep.InferenceSession(chain_model(), providers=[("opencl", {"device": 0}), "cpu"])


@needs_opencl
def test_device_selection_by_options_and_environment(monkeypatch):
    p, d = DEVICES[0]
    sess = ep.InferenceSession(chain_model(), providers=[("opencl", {"platform_id": p, "device_id": d}), "cpu"])
    assert provider_of(sess).device == f"opencl:{p}:{d}"
    monkeypatch.setenv("EP_RUNTIME_OPENCL_DEVICE", f"{p}:{d}")
    assert provider_of(ep.InferenceSession(chain_model(), providers=["opencl", "cpu"])).device == f"opencl:{p}:{d}"
    monkeypatch.setenv("EP_RUNTIME_OPENCL_DEVICE", "99:0")
    with pytest.raises(ProviderError, match="platform_id 99 .*EP_RUNTIME_OPENCL_DEVICE"):
        ep.InferenceSession(chain_model(), providers=["opencl", "cpu"])
    monkeypatch.setenv("EP_RUNTIME_OPENCL_DEVICE", "nonsense")
    with pytest.raises(ProviderError, match="not 'platform:device'"):
        ep.InferenceSession(chain_model(), providers=["opencl", "cpu"])
    monkeypatch.delenv("EP_RUNTIME_OPENCL_DEVICE")
    with pytest.raises(ProviderError, match="device_id 42"):
        ep.InferenceSession(chain_model(), providers=[("opencl", {"platform_id": p, "device_id": 42}), "cpu"])


def test_whole_graph_on_device_copies_only_inputs_and_outputs(opencl):
    sess = ep.InferenceSession(chain_model(), providers=[opencl, "cpu"])
    part = sess.get_partition()
    assert set(part.assignment().values()) == {"OpenCLExecutionProvider"}
    assert len(part.subgraphs) == 1
    prov = provider_of(sess)
    rng = np.random.default_rng(1)
    feed = {"x": rng.standard_normal((5, 16)).astype(np.float32), "x2": rng.standard_normal((5, 8)).astype(np.float32)}
    want = ep.InferenceSession(chain_model(), providers=["cpu"]).run(None, feed)
    for runs in (1, 3):
        prov.to_device_calls = prov.to_host_calls = 0
        for _ in range(runs):
            got = sess.run(None, feed)
        # exactly the 2 inputs in and the 2 outputs out per run: intermediates never leave the device
        assert (prov.to_device_calls, prov.to_host_calls) == (2 * runs, 2 * runs)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


def test_lazy_transpose_feeds_several_consumers_and_a_graph_output(opencl):
    """Transpose is a strided view on the device: its two consumers (Relu, a channel-shuffle Reshape),
    a Transpose of it (a view of a view) and the graph output all see the permuted values."""
    nodes = [
        helper.make_node("Transpose", ["x"], ["t"], name="shuffle", perm=[0, 2, 1, 3]),
        helper.make_node("Relu", ["t"], ["r"], name="relu"),
        helper.make_node("Reshape", ["t", "shape"], ["s"], name="flat"),
        helper.make_node("Transpose", ["t"], ["tt"], name="again", perm=[3, 1, 2, 0]),
        helper.make_node("Add", ["tt", "tt"], ["a"], name="add"),
    ]
    model = make_model(nodes, [("x", F, [2, 3, 4, 5])],
                       [("t", F, [2, 4, 3, 5]), ("r", F, [2, 4, 3, 5]), ("s", F, [2, 60]), ("a", F, [5, 4, 3, 2])],
                       [const("shape", np.array([2, -1], np.int64))])
    sess = ep.InferenceSession(model, providers=[opencl, "cpu"])
    assert set(sess.get_partition().assignment().values()) == {"OpenCLExecutionProvider"}
    feed = {"x": np.random.default_rng(2).standard_normal((2, 3, 4, 5)).astype(np.float32)}
    want = ep.InferenceSession(model, providers=["cpu"]).run(None, feed)
    for _ in range(2):
        got = sess.run(None, feed)
        for g, w in zip(got, want):
            assert g.shape == w.shape
            np.testing.assert_array_equal(g, w)


def test_kernels_return_device_arrays(opencl):
    import pyopencl.array as cla

    prov = provider_of(ep.InferenceSession(chain_model(), providers=[opencl, "cpu"]))
    from providers.opencl.elementwise import binary

    add = binary("add")(_provider=prov)
    out = add(prov.to_device(np.ones((2, 3), np.float32)), prov.to_device(np.ones((3,), np.float32)))
    assert isinstance(out, cla.Array)
    np.testing.assert_array_equal(prov.to_host(out), np.full((2, 3), 2, np.float32))


def test_programs_are_built_once_per_context(opencl):
    sess = ep.InferenceSession(chain_model(), providers=[opencl, "cpu"])
    dev = provider_of(sess).cl
    feed = {"x": np.ones((2, 16), np.float32), "x2": np.ones((2, 8), np.float32)}
    sess.run(None, feed)
    built = dict(dev._programs)
    for _ in range(3):
        sess.run(None, feed)
    again = ep.InferenceSession(chain_model(), providers=[opencl, "cpu"])
    again.run(None, feed)
    assert provider_of(again).cl is dev
    assert dev._programs == built  # no new program: same sources and options, same context
    assert provider_of(again).queue is not provider_of(sess).queue  # one queue per provider instance


def test_refusals_carry_reasons_and_fall_back_to_cpu(opencl):
    nodes = [
        helper.make_node("Relu", ["x"], ["r"], name="relu"),
        helper.make_node("Resize", ["r", "", "sc"], ["z"], name="cubic", mode="cubic"),
        helper.make_node("Cast", ["z"], ["d"], name="to_double", to=11),
        helper.make_node("Sqrt", ["d"], ["e"], name="sqrt_double"),
        helper.make_node("Cast", ["e"], ["f"], name="back", to=1),
        helper.make_node("MaxPool", ["f"], ["y", "i"], name="pool_idx", kernel_shape=[2, 2]),
        helper.make_node("Det", ["x2"], ["det"], name="det"),
    ]
    model = make_model(nodes, [("x", F, [1, 1, 4, 4]), ("x2", F, [3, 3])],
                       [("y", F, None), ("i", 7, None), ("det", F, None)],
                       [const("sc", np.array([1, 1, 2, 2], np.float32))])
    sess = ep.InferenceSession(model, providers=[opencl, "cpu"])
    part = sess.get_partition()
    where = part.assignment()
    assert where["relu"] == "OpenCLExecutionProvider"
    for name in ("cubic", "to_double", "sqrt_double", "back", "pool_idx", "det"):
        assert where[name] == "CPUExecutionProvider", name
    text = part.explain()
    assert "Resize mode='cubic' unsupported" in text
    assert "float64 not supported" in text
    assert "Indices output unsupported" in text
    assert "no kernel for ai.onnx::Det" in text
    rng = np.random.default_rng(2)
    feed = {"x": rng.random((1, 1, 4, 4)).astype(np.float32), "x2": rng.random((3, 3)).astype(np.float32)}
    want = ep.InferenceSession(model, providers=["cpu"]).run(None, feed)
    for g, w in zip(sess.run(None, feed), want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


def test_float16_is_refused_without_cl_khr_fp16(opencl):
    model = make_model([helper.make_node("Relu", ["x"], ["y"], name="relu")], [("x", 10, [4])], [("y", 10, [4])])
    sess = ep.InferenceSession(model, providers=[opencl, "cpu"])
    prov = provider_of(sess)
    where = sess.get_partition().assignment()["relu"]
    if prov.fp16:
        assert where == "OpenCLExecutionProvider"
    else:
        assert where == "CPUExecutionProvider"
        assert "no cl_khr_fp16" in sess.get_partition().explain()
    x = np.linspace(-1, 1, 4).astype(np.float16)
    np.testing.assert_array_equal(sess.run(None, {"x": x})[0], np.maximum(x, 0))


def test_runs_from_several_threads_are_correct(opencl):
    sess = ep.InferenceSession(chain_model(), providers=[opencl, "cpu"])
    ref = ep.InferenceSession(chain_model(), providers=["cpu"])
    rng = np.random.default_rng(3)
    feeds = [{"x": rng.standard_normal((n, 16)).astype(np.float32),
              "x2": rng.standard_normal((n, 8)).astype(np.float32)} for n in range(1, 9)]
    assert_concurrent_runs_match(sess, ref, feeds, repeats=10, rtol=1e-5, atol=1e-6)


def test_profiling_records_device_time_per_node(opencl):
    opts = ep.SessionOptions()
    opts.enable_profiling = True
    opts.graph_optimization_level = ep.GraphOptimizationLevel.ORT_ENABLE_BASIC  # keep MatMul + Add unfused
    sess = ep.InferenceSession(chain_model(), opts, providers=[opencl, "cpu"])
    sess.run(None, {"x": np.ones((2, 16), np.float32), "x2": np.ones((2, 8), np.float32)})
    path = sess.end_profiling()
    import json
    import os

    with open(path) as fh:
        names = [e["name"] for e in json.load(fh)]
    os.remove(path)
    assert any("MatMul" in n for n in names)
