"""CPU kernels of providers/cpu/tensor.py and cast.py: reshape, transpose, concat, split, slice, gather, squeeze,
expand, pad, shape, cast, constants, range, dropout."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper

from tests.helpers.kernels import check, run_kernel

ort = pytest.importorskip("onnxruntime")

rng = np.random.default_rng(1242)


def randn(*shape, dtype=np.float32):
    return rng.standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("shape,allowzero", [([2, -1], 0), ([0, 0, -1], 0), ([-1], 0), ([4, 0, 6], 1)])
def test_reshape_matches_onnxruntime(shape, allowzero):
    x = randn(2, 3, 4) if not allowzero else randn(0, 24)
    if allowzero:
        shape = [0, 4, 6]
    check("Reshape", [x, np.array(shape, np.int64)], {"allowzero": allowzero}, opset=14)


def test_reshape_error_names_shapes():
    msg = r"Reshape: cannot reshape an input of shape \(2, 3\) \(6 elements\) to \[4, -1\]"
    with pytest.raises(ValueError, match=msg):
        run_kernel("Reshape", [randn(2, 3), np.array([4, -1], np.int64)], opset=13)


@pytest.mark.parametrize("axis", [0, 1, 2, 3, -1])
def test_flatten_matches_onnxruntime(axis):
    check("Flatten", [randn(2, 3, 4)], {"axis": axis}, opset=13)


@pytest.mark.parametrize("perm", [None, [0, 2, 1], [2, 0, 1]])
def test_transpose_matches_onnxruntime(perm):
    check("Transpose", [randn(2, 3, 4)], {} if perm is None else {"perm": perm}, opset=13)


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_concat_matches_onnxruntime(axis):
    shapes = [[2, 3, 4], [2, 3, 4], [2, 3, 4]]
    for s in shapes[1:]:
        s[axis] = 2
    check("Concat", [randn(*s) for s in shapes], {"axis": axis}, opset=13)


def test_concat_mismatch_is_a_clear_error():
    with pytest.raises(ValueError, match="Concat: input 1 of shape"):
        run_kernel("Concat", [randn(2, 3), randn(3, 3)], {"axis": 1}, opset=13)


@pytest.mark.parametrize("opset,split,n", [(13, [1, 3, 2], 3), (13, None, 3), (11, [2, 4], 2), (18, None, 4)])
def test_split_matches_onnxruntime(opset, split, n):
    x = randn(3, 6) if not (opset == 18 and split is None) else randn(3, 7)
    if opset >= 13:
        ins = [x, None if split is None else np.array(split, np.int64)]
        attrs = {"axis": 1} | ({"num_outputs": n} if opset >= 18 and split is None else {})
    else:
        ins, attrs = [x], {"axis": 1, "split": split}
    check("Split", ins, attrs, opset=opset, n_outputs=n)


@pytest.mark.parametrize("starts,ends,axes,steps", [
    ([0, 1], [2, 3], None, None), ([-1], [-100], [1], [-1]), ([1], [1000], [0], [2]), ([10], [-1], [2], [-2]),
    ([0, 0], [-1, 2 ** 62], [-1, 1], [1, 1]), ([-2], [2 ** 63 - 1], [0], [1]),
])
def test_slice_matches_onnxruntime(starts, ends, axes, steps):
    ins = [randn(3, 4, 5), np.array(starts, np.int64), np.array(ends, np.int64),
           None if axes is None else np.array(axes, np.int64), None if steps is None else np.array(steps, np.int64)]
    check("Slice", ins, opset=13)


def test_slice_opset1_attributes():
    x = randn(3, 4)
    y = run_kernel("Slice", [x], {"starts": [1, 0], "ends": [3, -1], "axes": [0, 1]}, opset=9)[0]
    np.testing.assert_array_equal(y, x[1:3, 0:-1])


@pytest.mark.parametrize("axis,indices", [(0, [[0, 2], [-1, 1]]), (1, [3, 0]), (-1, 2)])
def test_gather_matches_onnxruntime(axis, indices):
    check("Gather", [randn(3, 4, 5), np.array(indices, np.int64)], {"axis": axis}, opset=13)


def test_gather_out_of_range_is_a_clear_error():
    with pytest.raises(ValueError, match="Gather: an index"):
        run_kernel("Gather", [randn(3), np.array([5], np.int64)])


@pytest.mark.parametrize("axes", [None, [0], [0, -1]])
def test_squeeze_matches_onnxruntime(axes):
    x = randn(1, 3, 1)
    check("Squeeze", [x, None if axes is None else np.array(axes, np.int64)], opset=13)
    check("Squeeze", [x], {} if axes is None else {"axes": axes}, opset=11)


@pytest.mark.parametrize("axes", [[0], [0, 3], [-1], [1, -1]])
def test_unsqueeze_matches_onnxruntime(axes):
    x = randn(3, 4)
    check("Unsqueeze", [x, np.array(axes, np.int64)], opset=13)
    check("Unsqueeze", [x], {"axes": axes}, opset=11)


@pytest.mark.parametrize("xs,shape", [((3, 1), [2, 3, 4]), ((1, 4), [3, 1]), ((2, 1), [1])])
def test_expand_matches_onnxruntime(xs, shape):
    check("Expand", [randn(*xs), np.array(shape, np.int64)], opset=13)


def test_tile_matches_onnxruntime():
    check("Tile", [randn(2, 3), np.array([2, 3], np.int64)], opset=13)


@pytest.mark.parametrize("mode", ["constant", "reflect", "edge", "wrap"])
@pytest.mark.parametrize("pads", [[1, 2, 2, 1], [0, 1, 0, 2], [-1, 1, 1, -1]])
def test_pad_matches_onnxruntime(mode, pads):
    x = randn(4, 5)
    check("Pad", [x, np.array(pads, np.int64), np.array(1.5, np.float32)], {"mode": mode}, opset=19)


def test_pad_with_axes_matches_onnxruntime():
    check("Pad", [randn(2, 3, 4), np.array([1, 2], np.int64), None, np.array([-1], np.int64)], opset=18)


def test_pad_opset2_attributes():
    x = randn(2, 3)
    y = run_kernel("Pad", [x], {"pads": [0, 1, 1, 0], "value": 2.0}, opset=2)[0]
    np.testing.assert_array_equal(y, np.pad(x, [(0, 1), (1, 0)], constant_values=2.0))


@pytest.mark.parametrize("attrs", [{}, {"start": 1}, {"end": -1}, {"start": -2, "end": 10}])
def test_shape_matches_onnxruntime(attrs):
    check("Shape", [randn(2, 3, 4)], attrs, opset=15)


def test_size_and_identity():
    check("Size", [randn(2, 3, 4)], opset=13)
    check("Identity", [randn(2, 3)], opset=16)


@pytest.mark.parametrize("src,dst", [(np.float32, TensorProto.INT64), (np.float32, TensorProto.FLOAT16),
                                     (np.int64, TensorProto.FLOAT), (np.float32, TensorProto.BOOL),
                                     (np.float64, TensorProto.FLOAT), (np.int32, TensorProto.DOUBLE)])
def test_cast_matches_onnxruntime(src, dst):
    x = (randn(3, 4) * 10).astype(src)
    check("Cast", [x], {"to": dst}, opset=13)
    check("Cast", [x], {"to": dst}, opset=21)


def test_cast_string_to_float():
    x = np.array(["1.5", "-2", "1e3"], dtype=object)
    check("Cast", [x], {"to": TensorProto.FLOAT}, opset=13)


def test_constant_of_shape_matches_onnxruntime():
    check("ConstantOfShape", [np.array([2, 3], np.int64)],
          {"value": helper.make_tensor("v", TensorProto.INT32, [1], [7])}, opset=9)
    check("ConstantOfShape", [np.array([3], np.int64)], opset=9)


def test_constant_variants():
    assert run_kernel("Constant", [], {"value_float": 2.5}, opset=13)[0].dtype == np.float32
    np.testing.assert_array_equal(run_kernel("Constant", [], {"value_ints": [1, 2]}, opset=13)[0], [1, 2])
    assert run_kernel("Constant", [], {"value": np.zeros((2, 2), np.float16)}, opset=9)[0].shape == (2, 2)


@pytest.mark.parametrize("start,limit,delta,dtype", [(0, 10, 3, np.int64), (1.0, -2.0, -0.5, np.float32),
                                                      (5, 1, 1, np.int32), (0.0, 1.0, 0.3, np.float32)])
def test_range_matches_onnxruntime(start, limit, delta, dtype):
    check("Range", [np.array(start, dtype), np.array(limit, dtype), np.array(delta, dtype)], opset=11)


def test_dropout_inference_is_identity_with_ones_mask():
    x = randn(3, 4)
    for opset in (7, 10, 12, 13):
        y, mask = run_kernel("Dropout", [x], {} if opset >= 12 else {"ratio": 0.3}, opset=opset, n_outputs=2)
        assert y is x and mask.all()
    check("Dropout", [x], opset=13, n_outputs=2)


def test_dropout_training_mode_keeps_expectation():
    x = np.ones((200, 200), np.float32)
    y, mask = run_kernel("Dropout", [x, np.array(0.25, np.float32), np.array(True)], {"seed": 0},
                         opset=13, n_outputs=2)
    assert mask.dtype == bool and abs(mask.mean() - 0.75) < 0.02
    np.testing.assert_allclose(y[mask], 1 / 0.75, rtol=1e-6)
    assert not y[~mask].any()


@pytest.mark.parametrize("indices", [np.array(3), np.array(-1), np.array([0, 5, -2]), np.array([[1, 2], [3, 9]])])
@pytest.mark.parametrize("axis", [0, 2, -1])
def test_gather_of_a_strided_input_reads_only_the_rows_asked_for_and_matches_take(indices, axis):
    from providers.cpu.tensor import Gather

    x = np.random.default_rng(0).standard_normal((1, 10, 12), dtype=np.float32).transpose(1, 0, 2)  # not contiguous
    got = Gather(x, indices, axis=axis)
    want = np.take(np.ascontiguousarray(x), indices, axis=axis)
    assert got.shape == want.shape and np.array_equal(got, want)
    assert not np.shares_memory(got, x)  # a copy, even for a scalar index
    with pytest.raises(ValueError, match="out of range for axis"):
        Gather(x, np.array(x.shape[axis]), axis=axis)
