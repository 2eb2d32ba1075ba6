"""The native Softmax's direct entry point (csrc/pyentry.c `softmax_f32`, called instead of ctypes): a
Softmax / LogSoftmax node runs through it with the numpy kernel's values on odd shapes, NaN rows and every
opset, empty tensors go to numpy, and a wrong call is a ValueError or TypeError, never a read past a buffer."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper

import ep_runtime as ep
from providers.cpu import softmax as ref
from providers.cpu.native import library
from providers.cpu.native import softmax as nat
from tests.helpers.models import F, make_model

pytestmark = pytest.mark.skipif(nat.SOFTMAX_F32 is None,
                                reason=f"native kernels not built: {library.UNAVAILABLE_REASON}")


def randn(*shape: int, seed: int = 3) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(shape) * 5).astype(np.float32)


def reference(op: str, x: np.ndarray, axis: int) -> np.ndarray:
    fn = ref.log_softmax if op == "LogSoftmax" else ref.softmax
    with np.errstate(invalid="ignore"):
        return fn(x.astype(np.float64), axis).astype(np.float32)


@pytest.fixture
def entry_calls(monkeypatch):
    """The number of entry point calls, counted from here on (nodes made after this fixture)."""
    calls = []
    real = nat.SOFTMAX_F32

    def counted(*args):
        calls.append(args[2:5])
        return real(*args)

    monkeypatch.setattr(nat, "SOFTMAX_F32", counted)
    return calls


def session(op: str, shape: list[int], axis: int, opset: int) -> ep.InferenceSession:
    model = make_model([helper.make_node(op, ["x"], ["y"], axis=axis)], [("x", F, shape)], [("y", F, shape)],
                       opset=opset)
    return ep.InferenceSession(model.SerializeToString(), providers=["cpu"])


@pytest.mark.parametrize("op", ["Softmax", "LogSoftmax"])
@pytest.mark.parametrize("shape, axis", [([3, 7, 33], -1), ([5, 129], 1), ([2, 3, 5, 17], 1), ([1, 128, 128], 2),
                                         ([7], 0)])
def test_softmax_nodes_run_through_the_entry_point_with_the_numpy_values(entry_calls, op, shape, axis):
    x = randn(*shape)
    if x.ndim > 1:
        x[0, ..., 0] = np.nan  # a NaN makes its row NaN, as numpy's reference
    got = session(op, shape, axis, 13).run(None, {"x": x})[0]
    assert entry_calls, "the node should call the entry point"
    np.testing.assert_allclose(got, reference(op, x, axis), rtol=2e-6, atol=2e-6)


@pytest.mark.parametrize("axis", [0, 1, 2, -1])
def test_opset_11_nodes_coerce_to_2d_through_the_entry_point(entry_calls, axis):
    x = randn(2, 3, 5, 7)
    got = session("Softmax", [2, 3, 5, 7], axis, 11).run(None, {"x": x})[0]
    rows = int(np.prod(x.shape[:axis % 4]))
    assert entry_calls == [(rows, x.size // rows, 1)]
    want = ref._coerced_2d(ref.softmax, x, axis, "Softmax")
    np.testing.assert_allclose(got, want, rtol=2e-6, atol=2e-6)


def test_an_empty_tensor_and_a_strided_input_take_the_right_paths(entry_calls):
    run = nat._node("Softmax", False, False, -1, ref.softmax)
    assert run(np.zeros((2, 0), np.float32)).shape == (2, 0)
    assert not entry_calls
    x = randn(6, 40)[::2, 1::3]
    np.testing.assert_allclose(run(x), reference("Softmax", x, 1), rtol=2e-6, atol=2e-6)
    assert entry_calls == [(3, 13, 1)]
    with pytest.raises(ValueError, match="rank >= 1"):
        run(np.float32(1.0).reshape(()))
    with pytest.raises(ValueError, match="out of range"):
        nat._node("Softmax", False, False, 2, ref.softmax)(randn(2, 3))


def test_the_entry_point_refuses_wrong_calls_with_a_clear_error():
    call = nat.SOFTMAX_F32
    x, y = randn(3, 5), np.empty((3, 5), np.float32)
    with pytest.raises(ValueError, match="x must be a C-contiguous float32 buffer of 30 values"):
        call(x, y, 3, 5, 2, 0, 1)
    with pytest.raises(ValueError, match="y must be a C-contiguous float32 buffer"):
        call(x, np.empty((3, 5)), 3, 5, 1, 0, 1)  # float64
    with pytest.raises(ValueError, match="x must be a C-contiguous float32 buffer"):
        call(x.astype(np.int32), y, 3, 5, 1, 0, 1)
    with pytest.raises(ValueError, match="overlap"):
        call(x, x, 3, 5, 1, 0, 1)
    with pytest.raises(ValueError, match="positive"):
        call(x, y, 0, 5, 1, 0, 1)
    with pytest.raises(ValueError, match="C-contiguous"):
        call(randn(6, 5)[::2], y, 3, 5, 1, 0, 1)
    frozen = np.empty((3, 5), np.float32)
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        call(x, frozen, 3, 5, 1, 0, 1)
    with pytest.raises(TypeError):
        call(x, y, "3", 5, 1, 0, 1)
    with pytest.raises(TypeError, match="7 arguments"):
        call(x, y)
    x.flags.writeable = False
    assert call(x, y, 3, 5, 1, 1, 1) == 0  # a read-only x is fine
    np.testing.assert_allclose(y, reference("LogSoftmax", x, 1), rtol=2e-6, atol=2e-6)
