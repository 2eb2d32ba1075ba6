"""Batch inference on the Ray engine: a local Ray with 2 CPUs, started once for the module."""

from __future__ import annotations

import functools
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ep_runtime import ProviderError
from ep_runtime.batch import column_array, predict, read_errors, read_output

ray = pytest.importorskip("ray", reason="the Ray engine needs Ray Data: pip install 'ep-runtime[ray]'")
pytest.importorskip("ray.data", reason="the Ray engine needs Ray Data: pip install 'ep-runtime[ray]'")
pa = pytest.importorskip("pyarrow", reason="the Ray engine needs pyarrow")

from tests.helpers import batch as batch_helpers  # noqa: E402
from tests.helpers.batch import assert_every_row_equals_session_run, gather_model, kill_once_when_armed, per_row, rows  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    # The actors unpickle functions of this module and of tests.helpers.batch (the preprocess): ship them by
    # value, since the worker processes cannot import the tests package.
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ray.cloudpickle.register_pickle_by_value(batch_helpers)
    ray.init(num_cpus=2, include_dashboard=False, configure_logging=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_ray_engine_10000_rows_equal_per_row_session_run_in_row_id_order(mlp_path: Path) -> None:
    x = rows(10_000, seed=11)
    result = predict(mlp_path, x, engine="ray", workers=2, batch_size=128)
    assert_every_row_equals_session_run(result, mlp_path, x)


def test_killed_ray_actor_is_retried_and_no_row_is_lost_or_duplicated(mlp_path: Path, tmp_path: Path) -> None:
    x = rows(3_000, seed=12)
    armed, fired = tmp_path / "armed", tmp_path / "fired"
    preprocess = functools.partial(kill_once_when_armed, str(armed), str(fired))
    out = tmp_path / "out.parquet"
    result = predict(mlp_path, x, engine="ray", workers=2, batch_size=100, shard_size=200, output=out,
                     preprocess=preprocess, on_shard=lambda r: armed.touch())
    assert fired.exists(), "no actor was killed: the test did not test anything"
    assert result.shards_run == 15
    table = read_output(out)
    np.testing.assert_array_equal(table.column("row_id").to_numpy(), np.arange(3_000))
    np.testing.assert_allclose(column_array(table.column("y")), per_row(mlp_path, {"x": x})[0], rtol=1e-5, atol=1e-6)
    assert read_errors(result.errors_path) == []


def test_ray_engine_puts_bad_rows_in_the_errors_while_the_rest_complete() -> None:
    model = gather_model().SerializeToString()
    x = np.random.default_rng(13).standard_normal((200, 4)).astype(np.float32)
    idx = (np.arange(200) % 4).astype(np.int64)[:, None]
    idx[[3, 120]] = 50
    result = predict(model, {"x": x, "idx": idx}, engine="ray", workers=2, batch_size=16, shard_size=50)
    assert [(e.row_id, e.stage) for e in result.errors] == [(3, "run"), (120, "run")]
    assert "GatherElements" in result.errors[0].error
    good = np.setdiff1d(np.arange(200), [3, 120])
    np.testing.assert_array_equal(result.row_ids, good)
    np.testing.assert_array_equal(result.outputs["y"], np.take_along_axis(x[good], idx[good], axis=1))


def test_ray_actors_read_a_parquet_folder_themselves_and_keep_row_ids(mlp_path: Path, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    x = rows(1_000, seed=14)
    folder = tmp_path / "data"
    folder.mkdir()
    for k, (lo, hi) in enumerate([(0, 600), (600, 1_000)]):
        pq.write_table(pa.table({"x": pa.FixedShapeTensorArray.from_numpy_ndarray(x[lo:hi])}),
                       folder / f"p{k}.parquet", row_group_size=128)
    result = predict(mlp_path, folder, engine="ray", workers=2, batch_size=64, shard_size=250)
    np.testing.assert_array_equal(result.row_ids, np.arange(1_000))
    np.testing.assert_allclose(result.outputs["y"], per_row(mlp_path, {"x": x})[0], rtol=1e-5, atol=1e-6)


def test_ray_engine_connects_to_a_running_cluster_by_address(mlp_path: Path, tmp_path: Path) -> None:
    # This test process runs the cluster; a separate driver process connects to it with address=.
    x = rows(500, seed=15)
    np.save(tmp_path / "x.npy", x)
    script = (f"from ep_runtime.batch import predict\n"
              f"r = predict({str(mlp_path)!r}, {str(tmp_path / 'x.npy')!r}, engine='ray', workers=1, "
              f"address={ray.get_runtime_context().gcs_address!r}, output={str(tmp_path / 'out')!r})\n"
              f"print('rows ok', r.rows_ok)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "rows ok 500" in done.stdout
    assert ray.is_initialized()  # the driver's disconnect left this cluster running
    table = read_output(tmp_path / "out")
    np.testing.assert_allclose(column_array(table.column("y")), per_row(mlp_path, {"x": x})[0], rtol=1e-5, atol=1e-6)


def test_ray_engine_raises_the_sessions_own_error_when_it_cannot_be_built(mlp_path: Path) -> None:
    with pytest.raises(ProviderError, match="NoSuchExecutionProvider"):
        predict(mlp_path, rows(10), engine="ray", workers=1, providers=["NoSuchExecutionProvider"])
