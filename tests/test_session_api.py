"""The onnxruntime-compatible session API: loading, introspection, options, running, threads."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest
from onnx import helper

import ep_runtime as ep
from tests.helpers.models import I64, F, const, make_model


def small_model():
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["h"], name="mm"),
        helper.make_node("Add", ["h", "b"], ["z"], name="bias"),
        helper.make_node("Relu", ["z"], ["y"], name="relu"),
    ]
    rng = np.random.default_rng(0)
    inits = [const("w", rng.standard_normal((4, 3)).astype(np.float32)),
             const("b", rng.standard_normal(3).astype(np.float32))]
    model = make_model(nodes, [("x", F, ["batch", 4])], [("y", F, ["batch", 3]), ("z", F, ["batch", 3])],
                       inits, producer_name="unit-test", doc_string="a tiny MLP")
    model.graph.name = "tiny"
    model.model_version = 7
    helper.set_model_props(model, {"author": "tests"})
    return model


def expected(model, x):
    w = [t for t in model.graph.initializer if t.name == "w"][0]
    b = [t for t in model.graph.initializer if t.name == "b"][0]
    from onnx.numpy_helper import to_array

    z = x @ to_array(w) + to_array(b)
    return np.maximum(z, 0), z


@pytest.mark.parametrize("source", ["path", "bytes", "proto"])
def test_models_load_from_path_bytes_or_proto(tmp_path, source):
    model = small_model()
    path = tmp_path / "m.onnx"
    path.write_bytes(model.SerializeToString())
    arg = {"path": str(path), "bytes": model.SerializeToString(), "proto": model}[source]
    sess = ep.InferenceSession(arg, providers=["CPUExecutionProvider"])
    x = np.ones((2, 4), np.float32)
    y, z = sess.run(None, {"x": x})
    ey, ez = expected(model, x)
    np.testing.assert_allclose(y, ey, rtol=1e-6)
    np.testing.assert_allclose(z, ez, rtol=1e-6)


def test_inputs_and_outputs_show_name_symbolic_shape_and_type():
    sess = ep.InferenceSession(small_model(), providers=["cpu"])
    (inp,) = sess.get_inputs()
    assert (inp.name, inp.shape, inp.type) == ("x", ["batch", 4], "tensor(float)")
    assert [(o.name, o.shape, o.type) for o in sess.get_outputs()] == [
        ("y", ["batch", 3], "tensor(float)"), ("z", ["batch", 3], "tensor(float)")]


def test_selected_outputs_come_back_in_the_requested_order():
    model = small_model()
    sess = ep.InferenceSession(model, providers=["cpu"])
    x = np.random.default_rng(3).standard_normal((5, 4)).astype(np.float32)
    z, y = sess.run(["z", "y"], {"x": x})
    ey, ez = expected(model, x)
    np.testing.assert_allclose(z, ez, rtol=1e-5)
    np.testing.assert_allclose(y, ey, rtol=1e-5)


def test_model_metadata():
    meta = ep.InferenceSession(small_model(), providers=["cpu"]).get_modelmeta()
    assert meta.producer_name == "unit-test"
    assert meta.graph_name == "tiny"
    assert meta.version == 7
    assert meta.description == "a tiny MLP"
    assert meta.custom_metadata_map == {"author": "tests"}


@pytest.mark.parametrize("spec", ["cpu", "CPU", "CPUExecutionProvider", ("CPUExecutionProvider", {})])
def test_provider_names_aliases_and_tuples(spec):
    sess = ep.InferenceSession(small_model(), providers=[spec])
    assert sess.get_providers() == ["CPUExecutionProvider"]
    assert sess.get_provider_options() == {"CPUExecutionProvider": {}}


def test_cpu_is_the_default_and_is_available():
    assert ep.get_available_providers()[-1] == "CPUExecutionProvider"
    assert "CPUExecutionProvider" in ep.get_all_providers()
    sess = ep.InferenceSession(small_model())
    assert sess.get_providers() == ["CPUExecutionProvider"]


def test_session_options_follow_onnxruntime_names():
    opts = ep.SessionOptions()
    assert opts.graph_optimization_level == ep.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.graph_optimization_level = ep.GraphOptimizationLevel.ORT_DISABLE_ALL
    opts.log_severity_level = 3
    opts.add_session_config_entry("session.disable_cpu_ep_fallback", "0")
    assert opts.get_session_config_entry("session.disable_cpu_ep_fallback") == "0"
    assert opts.disable_cpu_ep_fallback is False
    sess = ep.InferenceSession(small_model(), opts, providers=["cpu"])
    assert sess.get_session_options() is opts
    assert len(sess.get_partition().decisions) == 3


def test_constant_subgraphs_are_folded_unless_optimizations_are_off():
    nodes = [
        helper.make_node("Mul", ["c", "c"], ["c2"], name="fold_me"),
        helper.make_node("Add", ["x", "c2"], ["y"], name="keep_me"),
    ]
    model = make_model(nodes, [("x", F, [3])], [("y", F, [3])], [const("c", np.arange(3, dtype=np.float32))])
    folded = ep.InferenceSession(model, providers=["cpu"])
    assert [d.node.name for d in folded.get_partition().decisions] == ["keep_me"]
    opts = ep.SessionOptions()
    opts.graph_optimization_level = 0
    plain = ep.InferenceSession(model, opts, providers=["cpu"])
    assert [d.node.name for d in plain.get_partition().decisions] == ["fold_me", "keep_me"]
    x = np.ones(3, np.float32)
    np.testing.assert_array_equal(folded.run(None, {"x": x})[0], plain.run(None, {"x": x})[0])


def test_batchnorm_is_folded_into_the_preceding_conv():
    rng = np.random.default_rng(5)
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv", pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c", "s", "bb", "m", "v"], ["y"], name="bn", epsilon=1e-3),
    ]
    inits = [const("w", rng.standard_normal((4, 3, 3, 3)).astype(np.float32)),
             const("b", rng.standard_normal(4).astype(np.float32)),
             const("s", rng.random(4).astype(np.float32) + 0.5),
             const("bb", rng.standard_normal(4).astype(np.float32)),
             const("m", rng.standard_normal(4).astype(np.float32)),
             const("v", rng.random(4).astype(np.float32) + 0.5)]
    model = make_model(nodes, [("x", F, [1, 3, 8, 8])], [("y", F, [1, 4, 8, 8])], inits)
    fused = ep.InferenceSession(model, providers=["cpu"])
    assert [d.node.op_type for d in fused.get_partition().decisions] == ["Conv"]
    opts = ep.SessionOptions()
    opts.graph_optimization_level = 0
    plain = ep.InferenceSession(model, opts, providers=["cpu"])
    x = rng.standard_normal((1, 3, 8, 8)).astype(np.float32)
    np.testing.assert_allclose(fused.run(None, {"x": x})[0], plain.run(None, {"x": x})[0], rtol=1e-4, atol=1e-5)


def test_concurrent_runs_from_several_threads_get_their_own_results():
    model = small_model()
    sess = ep.InferenceSession(model, providers=["cpu"])
    rng = np.random.default_rng(11)
    feeds = [rng.standard_normal((8, 4)).astype(np.float32) for _ in range(8)]
    wrong: list[int] = []

    def worker(k: int) -> None:
        for _ in range(50):
            y, _ = sess.run(None, {"x": feeds[k]})
            if not np.allclose(y, expected(model, feeds[k])[0], rtol=1e-5):
                wrong.append(k)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wrong == []


def test_profiling_records_every_node(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    opts = ep.SessionOptions()
    opts.enable_profiling = True
    opts.graph_optimization_level = ep.GraphOptimizationLevel.ORT_ENABLE_BASIC  # keep MatMul + Add unfused
    sess = ep.InferenceSession(small_model(), opts, providers=["cpu"])
    sess.run(None, {"x": np.ones((1, 4), np.float32)})
    path = sess.end_profiling()
    events = json.loads((tmp_path / path).read_text())
    assert {e["name"] for e in events if e["cat"] == "Node"} == {"'mm' (MatMul)", "'bias' (Add)", "'relu' (Relu)"}
    assert all(e["dur"] >= 0 for e in events)


def test_partition_is_printable_and_serialisable():
    opts = ep.SessionOptions()
    opts.graph_optimization_level = ep.GraphOptimizationLevel.ORT_ENABLE_BASIC  # keep MatMul + Add unfused
    part = ep.InferenceSession(small_model(), opts, providers=["cpu"]).get_partition()
    data = part.to_dict()
    assert [n["provider"] for n in data["nodes"]] == ["CPUExecutionProvider"] * 3
    assert len(data["subgraphs"]) == 1 and data["copies"] == []
    json.dumps(data)
    assert "nodes per provider: CPUExecutionProvider=3" in str(part)


def test_folded_initializers_listed_as_graph_inputs_are_not_required_inputs():
    # Old-IR models list initializers among graph inputs; folding must not turn them into feeds.
    nodes = [
        helper.make_node("ConstantOfShape", ["w_shape"], ["w"], name="make_w",
                         value=helper.make_tensor("v", F, [1], [0.5])),
        helper.make_node("Mul", ["x", "w"], ["y"], name="scale"),
    ]
    model = make_model(nodes, [("x", F, [2]), ("w_shape", I64, [1])], [("y", F, [2])],
                       [const("w_shape", np.array([2], np.int64))])
    sess = ep.InferenceSession(model, providers=["cpu"])
    assert [i.name for i in sess.get_inputs()] == ["x"]
    np.testing.assert_array_equal(sess.run(None, {"x": np.array([2, 4], np.float32)})[0], [1, 2])


def static_model():
    nodes = [helper.make_node("Relu", ["x"], ["y"], name="relu")]
    return make_model(nodes, [("x", F, [2, 3])], [("y", F, [2, 3])], [])


def test_plain_and_converted_feeds_give_the_same_results_and_the_same_errors():
    sess = ep.InferenceSession(static_model().SerializeToString(), providers=["cpu"])
    x = np.array([[-1, 2, -3], [4, -5, 6]], dtype=np.float32)

    class Sub(np.ndarray):
        pass

    for feed in ({"x": x}, {"x": x.tolist()}, {"x": x.view(Sub)}, {"x": np.asfortranarray(x)}):
        np.testing.assert_array_equal(sess.run(None, feed)[0], np.maximum(x, 0))
    with pytest.raises(ep.InvalidArgument, match="'x' has dtype float64, expected float32"):
        sess.run(None, {"x": x.astype(np.float64)})
    with pytest.raises(ep.InvalidArgument, match="'x' has dim 4 on axis 1"):
        sess.run(None, {"x": np.zeros((2, 4), np.float32)})
    with pytest.raises(ep.InvalidArgument, match="'x' has rank 1"):
        sess.run(None, {"x": np.zeros(6, np.float32)})
    with pytest.raises(ep.InvalidArgument, match=r"unknown input name\(s\) \['z'\]"):
        sess.run(None, {"x": x, "z": x})
    with pytest.raises(ep.InvalidArgument, match=r"missing input\(s\) \['x'\]"):
        sess.run(None, {})
    with pytest.raises(ep.InvalidArgument, match="must be a numpy array"):
        sess.run(None, {"x": "text"})


def test_a_plain_feed_of_symbolic_dims_still_has_its_fixed_dims_checked():
    sess = ep.InferenceSession(small_model().SerializeToString(), providers=["cpu"])
    x = np.ones((5, 4), np.float32)
    np.testing.assert_allclose(sess.run(["z"], {"x": x})[0], expected(small_model(), x)[1], rtol=1e-6)
    with pytest.raises(ep.InvalidArgument, match="'x' has dim 3 on axis 1"):
        sess.run(None, {"x": np.ones((5, 3), np.float32)})


def test_runs_on_the_cpu_provider_still_silence_numpy_floating_point_warnings():
    nodes = [helper.make_node("Div", ["x", "x"], ["y"], name="div")]
    sess = ep.InferenceSession(make_model(nodes, [("x", F, [2])], [("y", F, [2])], []).SerializeToString(),
                               providers=["cpu"])
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        (y,) = sess.run(None, {"x": np.zeros(2, np.float32)})
    assert np.isnan(y).all()


def test_an_embedded_c_run_without_run_options_enters_no_errstate_and_no_run_control(monkeypatch):
    from providers.embedded_c import EmbeddedCExecutionProvider

    if not EmbeddedCExecutionProvider.is_available():
        pytest.skip("no C compiler")
    import ep_runtime.session as session_module

    sess = ep.InferenceSession(static_model().SerializeToString(), providers=[("embedded_c", {"fused": True})])
    entered = []

    def counting(name, real):
        def wrapper(*args, **kwargs):
            entered.append(name)
            return real(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(session_module.np, "errstate", counting("errstate", np.errstate))
    monkeypatch.setattr(session_module, "cancellable", counting("cancellable", session_module.cancellable))
    x = np.array([[-1, 2, -3], [4, -5, 6]], dtype=np.float32)
    np.testing.assert_array_equal(sess.run(None, {"x": x})[0], np.maximum(x, 0))
    assert entered == []
    options = ep.RunOptions()
    np.testing.assert_array_equal(sess.run(None, {"x": x}, options)[0], np.maximum(x, 0))
    assert entered == ["errstate", "cancellable"]  # RunOptions: the full path, which watches them
    options.terminate = True
    with pytest.raises(ep.RunCancelled):
        sess.run(None, {"x": x}, options)
