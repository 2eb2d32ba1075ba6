"""Batch inference (ep_runtime.batch) on the local engine: sources, row ids, errors, resume, the CLI."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper

from ep_runtime import InvalidArgument, ProviderError
from ep_runtime.batch import OutputNotBatched, column_array, predict, read_errors, read_output
from ep_runtime.cli import main
from tests.helpers.batch import assert_every_row_equals_session_run, gather_model, kill_once_when_armed, per_row, rows

pa = pytest.importorskip("pyarrow", reason="batch inference's Arrow/Parquet support needs pyarrow (ep-runtime[batch])")
pq = pytest.importorskip("pyarrow.parquet")

TINY_CNN = Path(__file__).resolve().parents[1] / "examples" / "models" / "tiny_cnn.onnx"


def test_local_engine_10000_rows_equal_per_row_session_run_in_row_id_order(mlp_path: Path) -> None:
    x = rows(10_000)
    result = predict(mlp_path, x, batch_size=128, workers=2)
    assert_every_row_equals_session_run(result, mlp_path, x)


def test_killed_worker_process_is_retried_and_no_row_is_lost_or_duplicated(mlp_path: Path, tmp_path: Path) -> None:
    x = rows(4_000, seed=1)
    armed, fired = tmp_path / "armed", tmp_path / "fired"
    preprocess = functools.partial(kill_once_when_armed, str(armed), str(fired))
    result = predict(mlp_path, x, batch_size=100, shard_size=250, workers=2, output=tmp_path / "out.parquet",
                     preprocess=preprocess, on_shard=lambda r: armed.touch())
    assert fired.exists(), "no worker was killed: the test did not test anything"
    assert result.restarts >= 1
    table = read_output(tmp_path / "out.parquet")
    np.testing.assert_array_equal(table.column("row_id").to_numpy(), np.arange(4_000))
    want_y, _ = per_row(mlp_path, {"x": x})
    np.testing.assert_allclose(column_array(table.column("y")), want_y, rtol=1e-5, atol=1e-6)
    assert read_errors(result.errors_path) == []


class Interrupt(Exception):
    pass


def test_resumed_run_completes_only_the_missing_shards(mlp_path: Path, tmp_path: Path) -> None:
    x, out = rows(2_000, seed=2), tmp_path / "out.parquet"
    seen: list[int] = []

    def stop_after_three(result):
        seen.append(result.shard)
        if len(seen) == 3:
            raise Interrupt

    with pytest.raises(Interrupt):
        predict(mlp_path, x, batch_size=50, shard_size=200, pool="thread", workers=1, output=out,
                on_shard=stop_after_three)
    done = sorted(int(k) for k in json.loads((out / "_manifest.json").read_text())["shards"])
    assert done == sorted(seen) and len(done) == 3
    stamps = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in out.glob("part-*.parquet")}
    assert len(stamps) == 3
    rerun: list[int] = []
    result = predict(mlp_path, x, batch_size=50, shard_size=200, pool="thread", workers=2, output=out,
                     on_shard=lambda r: rerun.append(r.shard))
    assert sorted(rerun) == sorted(set(range(10)) - set(done))
    assert (result.shards_run, result.shards_skipped) == (7, 3)
    assert {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in out.glob("part-*.parquet")
            if p.name in stamps} == stamps
    table = read_output(out)
    np.testing.assert_array_equal(table.column("row_id").to_numpy(), np.arange(2_000))
    np.testing.assert_allclose(column_array(table.column("y")), per_row(mlp_path, {"x": x})[0], rtol=1e-5, atol=1e-6)
    assert json.loads((out / "_manifest.json").read_text())["complete"] is True
    assert predict(mlp_path, x, batch_size=50, shard_size=200, pool="thread", output=out).shards_run == 0


def test_bad_rows_land_in_the_errors_file_while_the_rest_complete(tmp_path: Path) -> None:
    model = gather_model().SerializeToString()
    n = 300
    x = np.random.default_rng(3).standard_normal((n, 4)).astype(np.float32)
    idx = (np.arange(n) % 4).astype(np.int64)
    idx[[5, 150, 299]] = [9, 100, 4]           # out of range: the kernel fails on these rows
    x_col = [list(map(float, r)) for r in x]
    x_col[17] = x_col[17][:3]                  # a row of the wrong length
    x_col[200] = None                          # a null row
    table = pa.table({"x": x_col, "idx": pa.array(idx)})
    result = predict(model, table, batch_size=32, shard_size=64, workers=2, output=tmp_path / "out")
    errors = read_errors(result.errors_path)
    assert [(e.row_id, e.stage) for e in errors] == [(5, "run"), (17, "read"), (150, "run"), (200, "read"),
                                                     (299, "run")]
    assert "GatherElements" in errors[0].error and "out of range" in errors[0].error
    assert "[3]" in errors[1].error and "null" in errors[3].error
    good = np.setdiff1d(np.arange(n), [5, 17, 150, 200, 299])
    out = read_output(tmp_path / "out")
    np.testing.assert_array_equal(out.column("row_id").to_numpy(), good)
    want = np.take_along_axis(x[good], idx[good, None], axis=1)
    np.testing.assert_array_equal(column_array(out.column("y")), want)


def test_parquet_input_across_row_groups_and_files_keeps_row_ids(mlp_path: Path, tmp_path: Path) -> None:
    x = rows(1_000, seed=4)
    folder = tmp_path / "data"
    folder.mkdir()
    for k, (lo, hi) in enumerate([(0, 450), (450, 1_000)]):
        tensor = pa.FixedShapeTensorArray.from_numpy_ndarray(x[lo:hi])
        pq.write_table(pa.table({"features": tensor}), folder / f"f{k}.parquet", row_group_size=70)
    result = predict(mlp_path, folder, batch_size=64, shard_size=128, pool="thread", workers=2)
    np.testing.assert_array_equal(result.row_ids, np.arange(1_000))
    np.testing.assert_allclose(result.outputs["y"], per_row(mlp_path, {"x": x})[0], rtol=1e-5, atol=1e-6)


def test_npy_file_read_by_worker_processes_gives_every_row_once(mlp_path: Path, tmp_path: Path) -> None:
    x = rows(3_000, seed=9)
    np.save(tmp_path / "x.npy", x)
    result = predict(mlp_path, tmp_path / "x.npy", batch_size=100, shard_size=300, workers=2,
                     output=tmp_path / "out.parquet")
    table = read_output(tmp_path / "out.parquet")
    np.testing.assert_array_equal(table.column("row_id").to_numpy(), np.arange(3_000))
    np.testing.assert_allclose(column_array(table.column("y")), per_row(mlp_path, {"x": x})[0], rtol=1e-5, atol=1e-6)
    assert result.shards_run == 10 and not result.errors


def test_flat_list_column_feeds_an_image_input_reshaped_to_its_dims() -> None:
    x = np.random.default_rng(5).standard_normal((20, 3, 32, 32)).astype(np.float32)
    table = pa.table({"pixels": pa.array(list(x.reshape(20, -1)), type=pa.list_(pa.float32()))})
    result = predict(TINY_CNN, table, columns={"image": "pixels"}, batch_size=8, pool="thread", workers=1)
    np.testing.assert_allclose(result.outputs["probabilities"], per_row(TINY_CNN, {"image": x})[0],
                               rtol=1e-5, atol=1e-6)


def test_folder_of_npy_and_images_keeps_paths_and_reports_unreadable_files(tmp_path: Path) -> None:
    from PIL import Image

    folder = tmp_path / "in"
    folder.mkdir()
    rng = np.random.default_rng(6)
    arrays = [rng.standard_normal((3, 32, 32)).astype(np.float32) for _ in range(3)]
    for k, a in enumerate(arrays):
        np.save(folder / f"a{k}.npy", a)
    (folder / "b_broken.npy").write_bytes(b"not an array")
    pixels = (rng.random((40, 48, 3)) * 255).astype(np.uint8)
    Image.fromarray(pixels).save(folder / "c.png")
    result = predict(TINY_CNN, folder, pool="thread", workers=1)
    assert list(result.keys["path"]) == ["a0.npy", "a1.npy", "a2.npy", "c.png"]
    np.testing.assert_array_equal(result.row_ids, [0, 1, 2, 4])
    [error] = result.errors
    assert error.row_id == 3 and error.stage == "read" and "b_broken.npy" in error.error and "magic" in error.error
    image = np.asarray(Image.fromarray(pixels).resize((32, 32), Image.BILINEAR)).transpose(2, 0, 1)[None] / 255.0
    want = per_row(TINY_CNN, {"image": np.concatenate([np.stack(arrays), image.astype(np.float32)])})[0]
    np.testing.assert_allclose(result.outputs["probabilities"], want, rtol=1e-5, atol=1e-6)


def test_output_folder_of_another_job_is_refused_unless_overwrite(mlp_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    predict(mlp_path, rows(100), output=out, pool="thread", workers=1)
    with pytest.raises(InvalidArgument, match="another job.*input"):
        predict(mlp_path, rows(120), output=out, pool="thread", workers=1)
    result = predict(mlp_path, rows(120), output=out, pool="thread", workers=1, overwrite=True)
    assert result.shards_run == 1 and read_output(out).num_rows == 120


def test_output_whose_first_dim_is_not_the_batch_stops_the_job_naming_it(tmp_path: Path) -> None:
    graph = helper.make_graph([helper.make_node("ReduceSum", ["x"], ["total"], keepdims=0)], "sum",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 4])],
                              [helper.make_tensor_value_info("total", TensorProto.FLOAT, [])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()
    with pytest.raises(OutputNotBatched, match="'total'.*not the batch"):
        predict(model, np.ones((10, 4), np.float32), pool="thread", workers=1)


def test_arrays_that_do_not_match_the_inputs_are_refused_naming_them(mlp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="input 'x'.*\\[5\\].*\\[8\\]"):
        predict(mlp_path, np.ones((10, 5), np.float32), pool="thread")
    with pytest.raises(InvalidArgument, match="unknown \\['z'\\]"):
        predict(mlp_path, {"x": rows(3), "z": rows(3)}, pool="thread")
    with pytest.raises(InvalidArgument, match="engine must be one of"):
        predict(mlp_path, rows(3), engine="spark")
    with pytest.raises(InvalidArgument, match="pool must be one of"):
        predict(mlp_path, rows(3), pool="fibers")


def test_session_that_cannot_be_built_in_a_worker_process_fails_the_job_with_its_own_error(mlp_path: Path) -> None:
    with pytest.raises(ProviderError, match="unknown execution provider 'NoSuchExecutionProvider'"):
        predict(mlp_path, rows(10), workers=1, providers=["NoSuchExecutionProvider"])


@pytest.mark.parametrize(("providers", "num_gpus", "want"), [
    (["cuda"], None, 1.0), ([("CUDAExecutionProvider", {"device_id": 0}), "cpu"], None, 1.0),
    (["cpu"], None, 0.0), (["cuda"], 0.5, 0.5)])
def test_ray_actors_ask_for_a_gpu_when_the_provider_is_cuda(mlp_path: Path, monkeypatch, providers, num_gpus,
                                                             want) -> None:
    import ep_runtime.batch.ray_engine as ray_engine

    asked = {}

    def fake_run_ray(pending, source, spec, on_result, *, actors, address, num_gpus):
        asked.update(actors=actors, address=address, num_gpus=num_gpus, providers=spec.providers)

    monkeypatch.setattr(ray_engine, "run_ray", fake_run_ray)
    predict(mlp_path, rows(5), engine="ray", providers=providers, num_gpus=num_gpus, address="ray://head:10001")
    assert asked == {"actors": 2, "address": "ray://head:10001", "num_gpus": want, "providers": providers}


def test_model_with_batch_dim_fixed_at_one_runs_row_by_row(tmp_path: Path) -> None:
    graph = helper.make_graph([helper.make_node("Neg", ["x"], ["y"])], "neg",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()
    x = rows(10)[:, :3]
    result = predict(model, x, batch_size=4, pool="thread", workers=1)
    np.testing.assert_array_equal(result.outputs["y"], -x)


def test_run_batch_command_writes_results_and_errors_and_resumes(mlp_path: Path, tmp_path: Path, capsys) -> None:
    x = rows(300, seed=8)
    col = [list(map(float, r)) for r in x]
    col[42] = [1.0, 2.0]
    pq.write_table(pa.table({"x": col}), tmp_path / "in.parquet")
    out = tmp_path / "out.parquet"
    args = ["run-batch", str(mlp_path), "--input", str(tmp_path / "in.parquet"), "--output", str(out),
            "--batch-size", "32", "--shard-size", "100", "--pool", "thread", "--workers", "2", "--no-progress"]
    assert main(args) == 1
    printed = capsys.readouterr().out
    assert "shards run: 3, already complete: 0" in printed and "failed rows: 1" in printed
    assert [e.row_id for e in read_errors(out / "_errors.jsonl")] == [42]
    table = pq.read_table(out)  # the folder is a Parquet dataset
    assert sorted(table.column("row_id").to_pylist()) == [r for r in range(300) if r != 42]
    assert main(args) == 1
    assert "shards run: 0, already complete: 3" in capsys.readouterr().out


def test_run_batch_command_reports_a_missing_input_in_one_line(mlp_path: Path, tmp_path: Path, capsys) -> None:
    code = main(["run-batch", str(mlp_path), "--input", str(tmp_path / "nope.npy"), "--output", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("ep-runtime: error: ") and "nope.npy" in err and "Traceback" not in err
