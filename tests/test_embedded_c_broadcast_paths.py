"""Every run shape of the embedded C broadcast walk (csrc/ep_broadcast.c, ep_binary.h) agrees with the cpu provider.

The binary kernels (Add, Sub, Mul, Div, Pow, the comparisons and logical ops) split the output into runs
along which each operand is either contiguous or one repeated element: same shape and a scalar operand
are one run, a per-channel operand one run per plane, a row operand one run per row, and other
broadcasts shorter runs walked by an odometer. These cases put every combination on odd extents, with
unit axes in between, either operand the broadcast one, rank 0, and NaN, infinities and signed zeros in
the data, per node and fused (poison_outputs on, so an element left unwritten cannot pass). The
arithmetic is IEEE single precision either way, so Add, Sub, Mul and Div must match bit for bit
(NaN where the cpu provider has NaN, and the sign of every zero).
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from ep_runtime import GraphOptimizationLevel
from providers.embedded_c import EmbeddedCExecutionProvider
from tests.embedded_c_helpers import cpu_run, strict_session

pytestmark = pytest.mark.skipif(not EmbeddedCExecutionProvider.is_available(), reason="no C compiler")

#: case -> (a's shape, b's shape)
SHAPES = {
    "same_shape_odd": ((3, 5, 7), (3, 5, 7)),
    "scalar_rank0_right": ((2, 5, 7, 9), ()),
    "scalar_one_element_left": ((1,), (2, 5, 7, 9)),
    "scalar_all_unit_dims": ((3, 1, 1, 1), (1, 1, 1, 1)),
    "per_channel_nchw_right": ((2, 5, 7, 9), (1, 5, 1, 1)),
    "per_channel_chw_right": ((2, 5, 7, 9), (5, 1, 1)),
    "per_channel_left": ((5, 1, 1), (3, 5, 4, 3)),
    "row_right": ((2, 3, 5, 7), (7,)),
    "row_left_with_unit_axis": ((1, 7), (3, 1, 5, 7)),
    "column_right": ((4, 6, 9), (4, 6, 1)),
    "column_left": ((2, 6, 1), (2, 6, 11)),
    "outer_product": ((5, 1), (1, 7)),
    "both_broadcast_mixed": ((3, 1, 4, 1), (1, 6, 1, 8)),
    "both_broadcast_leading": ((1, 3, 1), (2, 1, 4)),
    "unit_axes_between": ((2, 1, 3, 1, 5), (1, 1, 3, 1, 1)),
    "plane_broadcast_over_batch": ((4, 5, 6), (5, 6)),
    "batch_broadcast_over_planes": ((4, 1, 1), (4, 5, 6)),
    "rank0_both": ((), ()),
    "rank8_mixed": ((2, 1, 2, 1, 3, 1, 2, 1), (1, 2, 1, 3, 1, 2, 1, 3)),
}

SPECIALS = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-40, -3.0, 3.0e38], dtype=np.float32)


def _data(shape: tuple, seed: int) -> np.ndarray:
    """Random normals with the special values sprinkled in (so they meet every kind of partner)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(np.float32)
    flat = x.reshape(-1)
    if flat.size > 1:
        at = rng.choice(flat.size, size=min(flat.size // 3 + 1, 2 * SPECIALS.size), replace=False)
        flat[at] = SPECIALS[np.arange(at.size) % SPECIALS.size]
    return x


def _binary_model(op: str, sa: tuple, sb: tuple, dtype: int = TensorProto.FLOAT,
                  out_dtype: int | None = None) -> onnx.ModelProto:
    out = np.broadcast_shapes(sa, sb)
    node = helper.make_node(op, ["a", "b"], ["y"])
    g = helper.make_graph([node], "g", [helper.make_tensor_value_info("a", dtype, sa),
                                        helper.make_tensor_value_info("b", dtype, sb)],
                          [helper.make_tensor_value_info("y", out_dtype or dtype, out)])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def assert_bitwise_ieee(got: np.ndarray, want: np.ndarray) -> None:
    """Same shape, NaN in the same places, and every other element equal with the same sign bit."""
    assert got.shape == want.shape and got.dtype == want.dtype
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    ok = ~np.isnan(want)
    np.testing.assert_array_equal(got[ok].view(np.uint32), want[ok].view(np.uint32))


@pytest.mark.parametrize("fused", [False, True], ids=["per_node", "fused"])
@pytest.mark.parametrize("op", ["Add", "Sub", "Mul", "Div"])
@pytest.mark.parametrize("case", sorted(SHAPES))
def test_broadcast_arithmetic_matches_cpu_bit_for_bit(case, op, fused):
    sa, sb = SHAPES[case]
    feed = {"a": _data(sa, 1), "b": _data(sb, 2)}
    model = _binary_model(op, sa, sb)
    got = strict_session(model, fused=fused, poison_outputs=True).run(None, feed)[0]
    assert_bitwise_ieee(got, cpu_run(model, feed)[0])


@pytest.mark.parametrize("case", ["scalar_rank0_right", "per_channel_left", "row_right", "both_broadcast_mixed"])
def test_broadcast_pow_matches_cpu(case):
    sa, sb = SHAPES[case]
    feed = {"a": np.abs(_data(sa, 3)) + np.float32(0.5), "b": _data(sb, 4)}
    feed["b"][np.isfinite(feed["b"])] = np.clip(feed["b"][np.isfinite(feed["b"])], -3, 3)
    model = _binary_model("Pow", sa, sb)
    got = strict_session(model, fused=True, poison_outputs=True).run(None, feed)[0]
    np.testing.assert_allclose(got, cpu_run(model, feed)[0], rtol=1e-6, atol=0)


@pytest.mark.parametrize("fused", [False, True], ids=["per_node", "fused"])
@pytest.mark.parametrize("op,dtype,np_dtype", [("Less", TensorProto.INT64, np.int64),
                                               ("Equal", TensorProto.INT32, np.int32),
                                               ("GreaterOrEqual", TensorProto.FLOAT, np.float32)])
@pytest.mark.parametrize("case", ["same_shape_odd", "scalar_one_element_left", "per_channel_nchw_right",
                                  "column_left", "both_broadcast_mixed", "rank0_both"])
def test_broadcast_comparisons_match_cpu(case, op, dtype, np_dtype, fused):
    sa, sb = SHAPES[case]
    rng = np.random.default_rng(5)
    if np_dtype is np.float32:
        feed = {"a": _data(sa, 6), "b": _data(sb, 7)}
    else:
        feed = {"a": rng.integers(-3, 3, sa).astype(np_dtype), "b": rng.integers(-3, 3, sb).astype(np_dtype)}
    model = _binary_model(op, sa, sb, dtype, TensorProto.BOOL)
    got = strict_session(model, fused=fused, poison_outputs=True).run(None, feed)[0]
    np.testing.assert_array_equal(got, cpu_run(model, feed)[0])


@pytest.mark.parametrize("case", ["outer_product", "row_left_with_unit_axis", "scalar_rank0_right"])
def test_broadcast_logical_and_matches_cpu(case):
    sa, sb = SHAPES[case]
    rng = np.random.default_rng(8)
    feed = {"a": rng.integers(0, 2, sa).astype(bool), "b": rng.integers(0, 2, sb).astype(bool)}
    model = _binary_model("And", sa, sb, TensorProto.BOOL)
    got = strict_session(model, fused=True, poison_outputs=True).run(None, feed)[0]
    np.testing.assert_array_equal(got, cpu_run(model, feed)[0])


def _chain_model() -> onnx.ModelProto:
    """The PP-LCNet pattern (scalar scale and shift, hard swish as Add/Clip/Mul/Div) around per-channel
    and row operands, so the fused arena holds every intermediate."""
    f = TensorProto.FLOAT
    c = {"s": np.array([1.5], np.float32), "t": np.array([-0.25], np.float32), "three": np.float32(3),
         "zero": np.float32(0), "six": np.float32(6), "chan": np.linspace(-2, 2, 5, dtype=np.float32).reshape(5, 1, 1),
         "row": np.linspace(0.5, 2, 9, dtype=np.float32)}
    nodes = [helper.make_node("Mul", ["s", "x"], ["m"]), helper.make_node("Add", ["m", "t"], ["a"]),
             helper.make_node("Add", ["a", "three"], ["a3"]), helper.make_node("Clip", ["a3", "zero", "six"], ["cl"]),
             helper.make_node("Mul", ["a", "cl"], ["hs6"]), helper.make_node("Div", ["hs6", "six"], ["hs"]),
             helper.make_node("Mul", ["hs", "chan"], ["pc"]), helper.make_node("Sub", ["row", "pc"], ["y"])]
    g = helper.make_graph(nodes, "chain", [helper.make_tensor_value_info("x", f, (2, 5, 7, 9))],
                          [helper.make_tensor_value_info("y", f, (2, 5, 7, 9))],
                          [onnx.numpy_helper.from_array(np.asarray(v), k) for k, v in c.items()])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])


def _chain_in_numpy(x: np.ndarray) -> np.ndarray:
    """The chain node by node in float32 (the cpu provider fuses it, which rounds differently)."""
    f = np.float32
    with np.errstate(all="ignore"):
        a = f(1.5) * x + f(-0.25)
        a3 = a + f(3)
        cl = np.where(a3 < f(0), f(0), np.where(a3 > f(6), f(6), a3))
        pc = (a * cl / f(6)) * np.linspace(-2, 2, 5, dtype=f).reshape(5, 1, 1)
        return np.linspace(0.5, 2, 9, dtype=f) - pc


@pytest.mark.parametrize("fused", [False, True], ids=["per_node", "fused"])
def test_scale_shift_hard_swish_chain_matches_numpy_bit_for_bit(fused):
    model = _chain_model()
    x = _data((2, 5, 7, 9), 9)
    with np.errstate(over="ignore"):
        x[np.isfinite(x)] *= np.float32(4)
    # graph rewrites off: the HardSwish fusion would compute the chain another way (as onnxruntime does)
    sess = strict_session(model, optimization_level=GraphOptimizationLevel.ORT_DISABLE_ALL, fused=fused,
                          poison_outputs=True)
    assert_bitwise_ieee(sess.run(None, {"x": x})[0], _chain_in_numpy(x))


@pytest.mark.parametrize("op,opset,attrs,bounds", [("Clip", 13, {}, (-1.0, 2.5)), ("Clip", 6, {"min": 0.0}, None),
                                                   ("Relu", 14, {}, None)])
def test_clip_and_relu_pass_nan_and_keep_a_signed_zero(op, opset, attrs, bounds):
    """NaN passes through (comparisons with NaN are false) and -0.0 inside the range stays -0.0."""
    inputs = ["x"] + (["lo", "hi"] if bounds else [])
    inits = [onnx.numpy_helper.from_array(np.float32(v), n) for n, v in zip(("lo", "hi"), bounds or ())]
    g = helper.make_graph([helper.make_node(op, inputs, ["y"], **attrs)], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, (3, 7, 11))],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, (3, 7, 11))], inits)
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    x = _data((3, 7, 11), 10)
    lo, hi = (np.float32(v) for v in bounds or (0.0, np.inf))
    want = np.where(x < lo, lo, np.where(x > hi, hi, x))
    got = strict_session(model, fused=True, poison_outputs=True).run(None, {"x": x})[0]
    assert np.isnan(x).any() and (x.view(np.uint32) == 0x80000000).any()
    assert_bitwise_ieee(got, want)
