"""The host memory arena (ep_runtime/host_arena.py, csrc/host_arena.c): numpy's handler during runs only,
large freed blocks reused, zeroed and resized correctly, bounded, and off with enable_cpu_mem_arena=False."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from onnx import TensorProto, helper

import ep_runtime as ep
from ep_runtime import host_arena

try:
    from numpy._core.multiarray import get_handler_name
except ImportError:  # numpy 1.x
    from numpy.core.multiarray import get_handler_name

pytestmark = pytest.mark.skipif(not host_arena.AVAILABLE, reason="the host arena extension was not built")

NAME = "ep_runtime_host_arena"
BIG = 5 << 20  # bytes: above the arena's 4 MiB threshold


@pytest.fixture(autouse=True)
def empty_arena():
    host_arena.trim()
    yield
    host_arena.trim()


class arena_context:
    """The arena as numpy's handler for the block, as a run installs it."""

    def __enter__(self) -> None:
        self.previous = host_arena.enter()

    def __exit__(self, *exc: object) -> None:
        host_arena.leave(self.previous)


def _doubling_model() -> bytes:
    """y = (x + x) * 2: one intermediate the size of x."""
    nodes = [helper.make_node("Add", ["x", "x"], ["t"]), helper.make_node("Mul", ["t", "two"], ["y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n"])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n"])],
                              [helper.make_tensor("two", TensorProto.FLOAT, [], [2.0])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


def test_a_run_allocates_through_the_arena_and_leaves_the_callers_handler_alone():
    sess = ep.InferenceSession(_doubling_model(), providers=["CPUExecutionProvider"])
    before = get_handler_name()
    x = np.arange(10, dtype=np.float32)
    (y,) = sess.run(None, {"x": x})
    np.testing.assert_array_equal(y, 4 * x)
    assert get_handler_name(y) == NAME
    assert get_handler_name() == before != NAME


def test_enable_cpu_mem_arena_false_keeps_numpys_allocator():
    opts = ep.SessionOptions()
    opts.enable_cpu_mem_arena = False
    sess = ep.InferenceSession(_doubling_model(), opts, providers=["CPUExecutionProvider"])
    (y,) = sess.run(None, {"x": np.ones(4, np.float32)})
    assert get_handler_name(y) != NAME


def test_a_large_intermediate_reuses_the_block_of_the_run_before():
    sess = ep.InferenceSession(_doubling_model(), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).standard_normal(BIG // 4).astype(np.float32)
    sess.run(None, {"x": x})  # the intermediate's block is cached when the Mul has read it
    hits = host_arena.stats()[2]
    for _ in range(3):
        (y,) = sess.run(None, {"x": x})
        np.testing.assert_array_equal(y, (x + x) * 2)
        del y
    assert host_arena.stats()[2] >= hits + 3


def test_zeros_from_a_reused_dirty_block_are_zero():
    with arena_context():
        dirty = np.full(BIG // 4, 7.0, np.float32)
        address = dirty.ctypes.data
        del dirty
        zeros = np.zeros(BIG // 4, np.float32)
        assert zeros.ctypes.data == address
        assert not zeros.any()


def test_a_block_is_reused_only_for_a_size_it_does_not_waste():
    with arena_context():
        big = np.empty(BIG * 2, np.uint8)
        address = big.ctypes.data
        del big
        assert np.empty(BIG, np.uint8).ctypes.data != address  # half of it would be wasted
        again = np.empty(BIG * 2 - 4096, np.uint8)
        assert again.ctypes.data == address


def test_resizing_keeps_the_data():
    with arena_context():
        for start, end in [(BIG, 3 * BIG), (3 * BIG, BIG), (1000, BIG), (BIG, 1000)]:
            a = np.arange(start, dtype=np.uint8)
            a.resize(end, refcheck=False)
            kept = min(start, end)
            np.testing.assert_array_equal(a[:kept], np.arange(kept, dtype=np.uint8))
            assert not a[kept:].any()  # numpy zeroes what it adds


def test_the_cache_is_bounded_and_trim_empties_it():
    with arena_context():
        arrays = [np.empty(BIG + k * 4096, np.uint8) for k in range(24)]
        del arrays
    blocks, cached, _, _ = host_arena.stats()
    assert blocks == 16 and cached <= 16 * (BIG + 24 * 4096)
    host_arena.trim()
    assert host_arena.stats()[:2] == (0, 0)


def test_threads_allocating_and_freeing_at_once_keep_their_data():
    errors = []

    def work(seed: int) -> None:
        try:
            with arena_context():
                for k in range(20):
                    a = np.full(BIG // 4 + (k % 3) * 1024, seed * 100 + k, np.float32)
                    assert (a == seed * 100 + k).all()
                    del a
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
