"""What the device provider tests (CUDA, OpenCL) share: a run on the device provider compared with the
CPU provider, and the check of a model with randomized weights relative to each output's scale."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import ep_runtime as ep
from bench import bench_models
from tests.device_support import transformer_block


def assert_all_on(sess: ep.InferenceSession, provider: str) -> None:
    """Every node of the session's graph is assigned to `provider` (the partition's explanation otherwise)."""
    part = sess.get_partition()
    off = {n: p for n, p in part.assignment().items() if p != provider}
    assert not off, f"not on {provider}: {off}\n{part.explain()}"


def run_and_compare(model: Any, feed: dict[str, np.ndarray], entry: Any, provider: str, *, rtol: float,
                    atol: float, all_on: bool = True) -> ep.InferenceSession:
    """Run `model` with [entry, cpu] and with [cpu]; assert equal outputs (numpy arrays of one shape and
    dtype; floats within tolerance) and, by default, that `provider` took every node. Returns the session."""
    sess = ep.InferenceSession(model, providers=[entry, "cpu"])
    ref = ep.InferenceSession(model, providers=["cpu"])
    if all_on:
        assert_all_on(sess, provider)
    got = sess.run(None, feed)
    want = ref.run(None, feed)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert isinstance(g, np.ndarray), type(g)
        assert g.shape == w.shape, (g.shape, w.shape)
        assert g.dtype == w.dtype, (g.dtype, w.dtype)
        if g.dtype.kind == "f":
            np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)
        else:
            np.testing.assert_array_equal(g, w)
    return sess


def check_randomized_weights(path: str, feed: dict[str, np.ndarray], entry: Any, provider: str, *, rtol: float,
                             atol: float, reference: Callable[[bytes, dict], list] | None = None) -> None:
    """The model at `path` with randomized weights (shipped weights often give flat outputs, which cannot hide
    a wrong kernel) run on `entry` with every node on `provider`, against the CPU provider (or
    `reference(model_bytes, feed)`), each output compared relative to its largest magnitude."""
    data = bench_models.randomized_variant(path, 0)
    sess = ep.InferenceSession(data, providers=[entry, "cpu"])
    assert_all_on(sess, provider)
    got = sess.run(None, feed)
    want = reference(data, feed) if reference else ep.InferenceSession(data, providers=["cpu"]).run(None, feed)
    for g, w in zip(got, want):
        scale = float(np.max(np.abs(w))) or 1.0
        np.testing.assert_allclose(g / scale, w / scale, rtol=rtol, atol=atol)


def assert_concurrent_runs_match(sess: ep.InferenceSession, ref: ep.InferenceSession, feeds: list[dict], *,
                                 repeats: int, rtol: float, atol: float) -> None:
    """Run `sess` on each feed from a thread of its own, all at once, `repeats` times each, every result
    against `ref`'s for that feed: runs from several threads do not interfere. The first failure is raised."""
    wants = [ref.run(None, f) for f in feeds]
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            for _ in range(repeats):
                for g, w in zip(sess.run(None, feeds[k]), wants[k]):
                    np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(len(feeds))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]


def light_model_params(fast: tuple[str, ...], slow: tuple[str, ...]) -> list[Any]:
    """The light model names to parametrize a model test with: `fast` as they are, `slow` marked slow."""
    return [*fast, *(pytest.param(name, marks=pytest.mark.slow) for name in slow)]


def check_transformer_block(entry: Any, provider: str, *, rtol: float,
                            atol: float) -> tuple[ep.InferenceSession, Any, dict[str, np.ndarray]]:
    """The transformer encoder block of tests.device_support run on `entry` against the CPU provider: every
    node on `provider`, in one subgraph. Returns the session, the model and the feed."""
    model = transformer_block()
    x = np.random.default_rng(1).standard_normal((2, 7, 32)).astype(np.float32)
    sess = run_and_compare(model, {"x": x}, entry, provider, rtol=rtol, atol=atol)
    assert len(sess.get_partition().subgraphs) == 1
    return sess, model, {"x": x}
