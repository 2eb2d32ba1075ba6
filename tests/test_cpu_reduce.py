"""CPU kernels of providers/cpu/reduce.py (Reduce*, ArgMax/ArgMin), compared with onnxruntime."""

from __future__ import annotations

import numpy as np
import pytest

from tests.helpers.kernels import check

ort = pytest.importorskip("onnxruntime")

rng = np.random.default_rng(1240)


def randn(*shape, dtype=np.float32):
    return rng.standard_normal(shape).astype(dtype)


REDUCE_OPS = ["ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
              "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare"]


@pytest.mark.parametrize("op", REDUCE_OPS)
@pytest.mark.parametrize("axes,keepdims", [(None, 1), ([1], 0), ([0, -1], 1), ([-2], 0)])
def test_reduce_with_axes_attribute_matches_onnxruntime(op, axes, keepdims):
    x = np.abs(randn(2, 3, 4)) + 0.5
    attrs = {"keepdims": keepdims} if axes is None else {"axes": axes, "keepdims": keepdims}
    check(op, [x], attrs, opset=11)


@pytest.mark.parametrize("op", REDUCE_OPS)
@pytest.mark.parametrize("axes,keepdims,noop", [(None, 1, 0), ([1], 0, 0), ([0, -1], 1, 0), ([], 1, 1), ([], 0, 0)])
def test_reduce_with_axes_input_matches_onnxruntime(op, axes, keepdims, noop):
    x = np.abs(randn(2, 3, 4)) + 0.5
    ax = None if axes is None else np.array(axes, np.int64)
    check(op, [x, ax], {"keepdims": keepdims, "noop_with_empty_axes": noop}, opset=18)


def test_reduce_sum_keeps_integer_dtype():
    x = np.arange(12, dtype=np.int32).reshape(3, 4)
    check("ReduceSum", [x, np.array([1], np.int64)], {"keepdims": 0}, opset=13)


@pytest.mark.parametrize("op", ["ArgMax", "ArgMin"])
@pytest.mark.parametrize("axis,keepdims,last", [(0, 1, 0), (-1, 0, 0), (1, 1, 1)])
def test_arg_reductions_match_onnxruntime(op, axis, keepdims, last):
    x = rng.integers(0, 3, (3, 4, 2)).astype(np.float32)  # ties exercise select_last_index
    check(op, [x], {"axis": axis, "keepdims": keepdims, "select_last_index": last}, opset=13)
