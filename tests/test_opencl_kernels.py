"""OpenCL kernels against the CPU provider, op by op: random shapes, broadcasting edge cases, sizes
that are not multiples of the work-group size, empty tensors; on every OpenCL device present."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import helper

from tests.helpers.models import make_model
from tests.opencl_support import (
    needs_opencl,
    opencl_fixture,  # noqa: F401  (the `opencl` fixture: one per device)
    run_and_compare,
)

pytestmark = needs_opencl

RNG = np.random.default_rng(1234)


def rand(*shape, low=-2.0, high=2.0, dtype=np.float32):
    return RNG.uniform(low, high, size=shape).astype(dtype)


def node_model(op, inputs, consts=None, n_out=1, opset=17, **attrs):
    """A one-node model: `inputs` (name -> array) are graph inputs, `consts` initializers."""
    consts = consts or {}
    order = list(inputs) + list(consts)
    names = attrs.pop("_names", order)
    node = helper.make_node(op, names, [f"y{i}" for i in range(n_out)], **attrs)
    ins = [(n, onnx.helper.np_dtype_to_tensor_dtype(a.dtype), list(a.shape)) for n, a in inputs.items()]
    inits = [onnx.numpy_helper.from_array(np.asarray(a), n) for n, a in consts.items()]
    model = make_model([node], ins, [(f"y{i}", 0, None) for i in range(n_out)], inits, opset=opset)
    # let shape inference fill in the output types
    del model.graph.output[:]
    model.graph.output.extend([helper.make_empty_tensor_value_info(f"y{i}") for i in range(n_out)])
    return model


def check(opencl_entry, op, inputs, consts=None, n_out=1, opset=17, rtol=1e-4, atol=1e-5, **attrs):
    model = node_model(op, inputs, consts, n_out, opset, **attrs)
    return run_and_compare(model, inputs, opencl_entry, rtol=rtol, atol=atol)


UNARY = ["Relu", "Sigmoid", "Tanh", "Exp", "Abs", "Neg", "Erf", "HardSwish", "Floor", "Ceil", "Softsign"]


@pytest.mark.parametrize("op", UNARY)
@pytest.mark.parametrize("shape", [(1,), (67,), (3, 5, 7), (0, 4)])
def test_unary(opencl, op, shape):
    check(opencl, op, {"x": rand(*shape)})


@pytest.mark.parametrize("op", ["Log", "Sqrt"])
def test_unary_positive_domain(opencl, op):
    check(opencl, op, {"x": rand(5, 13, low=0.1, high=3.0)})


@pytest.mark.parametrize("op, attrs", [("LeakyRelu", {"alpha": 0.3}), ("HardSigmoid", {"alpha": 0.3, "beta": 0.4}),
                                       ("Elu", {"alpha": 0.7}), ("Gelu", {}), ("Gelu", {"approximate": "tanh"})])
def test_unary_with_attributes(opencl, op, attrs):
    check(opencl, op, {"x": rand(4, 33)}, opset=20, **attrs)


def test_clip_with_bound_inputs_and_missing_min(opencl):
    x = rand(6, 11)
    check(opencl, "Clip", {"x": x}, {"lo": np.float32(-0.5), "hi": np.float32(0.7)})
    check(opencl, "Clip", {"x": x}, {"hi": np.float32(0.7)}, _names=["x", "", "hi"])
    check(opencl, "Clip", {"x": x}, opset=6, min=-0.2, max=0.3)


BROADCAST_SHAPES = [
    ((3, 4), (3, 4)), ((2, 3, 4, 5), (3, 1, 1)), ((1,), (7, 9)), ((5, 1, 3), (1, 4, 1)), ((), (2, 3)),
    ((2, 1, 65), (1, 3, 1)), ((0, 3), (1, 3)), ((4, 0), (4, 1)), ((2, 3, 1, 5, 1, 2, 1), (3, 4, 1, 1, 2, 2)),
]


@pytest.mark.parametrize("op", ["Add", "Sub", "Mul", "Div", "Pow", "PRelu"])
@pytest.mark.parametrize("shapes", BROADCAST_SHAPES, ids=str)
def test_binary_broadcasting(opencl, op, shapes):
    a, b = rand(*shapes[0]), rand(*shapes[1])
    if op == "Pow":
        a = np.abs(a) + 0.1
    if op == "Div":
        b = np.where(np.abs(b) < 0.1, 0.5, b).astype(np.float32)
    if op == "PRelu":  # the slope broadcasts to X, not the other way (Y has X's shape)
        a = rand(*np.broadcast_shapes(a.shape, b.shape))
    check(opencl, op, {"a": a, "b": b})


@pytest.mark.parametrize("op", ["Equal", "Less", "Greater"])
def test_comparisons(opencl, op):
    a = RNG.integers(0, 3, (4, 1, 6)).astype(np.float32)
    b = RNG.integers(0, 3, (5, 1)).astype(np.float32)
    check(opencl, op, {"a": a, "b": b})


def test_where_broadcasts_all_three_inputs(opencl):
    c = RNG.random((3, 1, 5)) > 0.5
    check(opencl, "Where", {"c": c, "x": rand(1, 4, 5), "y": rand(3, 4, 1)})


@pytest.mark.parametrize("op", ["Sum", "Max", "Min", "Mean"])
def test_variadic(opencl, op):
    check(opencl, op, {"a": rand(3, 4), "b": rand(4), "c": rand(1, 4)})


@pytest.mark.parametrize("mode", ["register", "tiled"])
@pytest.mark.parametrize("sa, sb", [((5, 7), (7, 3)), ((65, 130), (130, 67)), ((2, 3, 17, 9), (9, 33)),
                                    ((7,), (7, 5)), ((4, 7), (7,)), ((3, 1, 5, 6), (2, 6, 4)),
                                    ((2, 3, 2, 4, 5), (3, 1, 5, 2)), ((0, 4), (4, 3)), ((3, 0), (0, 5))], ids=str)
def test_matmul(opencl, mode, sa, sb):
    name, opts = opencl
    check((name, {**opts, "matmul_kernel": mode}), "MatMul", {"a": rand(*sa), "b": rand(*sb)}, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("mode", ["register", "tiled"])
@pytest.mark.parametrize("trans_a, trans_b, c_shape", [(0, 0, (1, 19)), (1, 0, (23, 1)), (0, 1, ()), (1, 1, (23, 19)),
                                                       (0, 1, None)])
def test_gemm(opencl, mode, trans_a, trans_b, c_shape):
    a = rand(*((70, 23) if trans_a else (23, 70)))
    b = rand(*((19, 70) if trans_b else (70, 19)))
    consts = {"c": rand(*c_shape)} if c_shape is not None else {}
    name, opts = opencl
    check((name, {**opts, "matmul_kernel": mode}), "Gemm", {"a": a, "b": b}, consts, alpha=0.7,
          beta=1.3 if consts else 1.0, transA=trans_a, transB=trans_b, atol=1e-4)


CONV_CASES = [
    dict(x=(1, 3, 9, 11), w=(5, 3, 3, 3), pads=[1, 1, 1, 1]),
    dict(x=(2, 4, 10, 7), w=(6, 2, 3, 2), group=2, strides=[2, 1], dilations=[1, 2]),
    dict(x=(1, 8, 9, 9), w=(8, 1, 3, 3), group=8, pads=[1, 0, 1, 2]),  # depthwise
    dict(x=(2, 16, 5, 6), w=(7, 16, 1, 1)),  # 1x1 as a plain GEMM
    dict(x=(1, 3, 13), w=(4, 3, 5), strides=[2], auto_pad="SAME_UPPER"),  # 1-D
    dict(x=(1, 70, 12, 12), w=(66, 70, 3, 3), pads=[1, 1, 1, 1], bias=True),
    dict(x=(1, 6, 7, 7), w=(6, 2, 3, 3), group=3, auto_pad="SAME_LOWER", strides=[2, 2], bias=True),
]


@pytest.mark.parametrize("mode", ["register", "tiled"])
@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: "-".join(f"{k}{v}" for k, v in c.items()))
def test_conv(opencl, mode, case):
    case = dict(case)
    x, w = rand(*case.pop("x")), rand(*case.pop("w"))
    consts = {"w": w}
    if case.pop("bias", False):
        consts["b"] = rand(w.shape[0])
    name, opts = opencl
    check((name, {**opts, "matmul_kernel": mode}), "Conv", {"x": x}, consts, atol=1e-4, **case)


@pytest.mark.parametrize("case", [
    dict(x=(1, 4, 5, 5), w=(4, 3, 3, 3), strides=[2, 2]),
    dict(x=(2, 4, 3, 4), w=(4, 2, 2, 3), group=2, strides=[2, 3], pads=[1, 0, 0, 1], output_padding=[1, 0]),
    dict(x=(1, 2, 6), w=(2, 3, 4), dilations=[2], bias=True),
], ids=lambda c: "-".join(f"{k}{v}" for k, v in c.items()))
def test_conv_transpose(opencl, case):
    case = dict(case)
    x, w = rand(*case.pop("x")), rand(*case.pop("w"))
    consts = {"w": w}
    if case.pop("bias", False):
        consts["b"] = rand(w.shape[1] * case.get("group", 1))
    check(opencl, "ConvTranspose", {"x": x}, consts, atol=1e-4, **case)


@pytest.mark.parametrize("op", ["MaxPool", "AveragePool"])
@pytest.mark.parametrize("attrs", [
    dict(kernel_shape=[3, 3], strides=[2, 2]),
    dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], ceil_mode=1),
    dict(kernel_shape=[2, 3], pads=[0, 1, 1, 1], count_include_pad=1),
    dict(kernel_shape=[3], strides=[2], auto_pad="SAME_UPPER"),
], ids=str)
def test_pools(opencl, op, attrs):
    attrs = dict(attrs)
    if op == "MaxPool":
        attrs.pop("count_include_pad", None)
    x = rand(2, 3, 11) if len(attrs["kernel_shape"]) == 1 else rand(2, 3, 11, 10)
    check(opencl, op, {"x": x}, **attrs)


@pytest.mark.parametrize("op", ["GlobalAveragePool", "GlobalMaxPool"])
def test_global_pools(opencl, op):
    check(opencl, op, {"x": rand(2, 5, 7, 9)})


def test_batch_norm_and_lrn(opencl):
    c = 6
    consts = {"s": rand(c), "b": rand(c), "m": rand(c), "v": rand(c, low=0.5, high=2.0)}
    check(opencl, "BatchNormalization", {"x": rand(2, c, 5, 3)}, consts, epsilon=1e-3)
    check(opencl, "LRN", {"x": rand(2, 7, 4, 3)}, size=3, alpha=1e-3, beta=0.75, bias=2.0)


@pytest.mark.parametrize("op", ["Softmax", "LogSoftmax"])
@pytest.mark.parametrize("axis, opset", [(-1, 13), (1, 13), (0, 13), (1, 11)])
def test_softmax(opencl, op, axis, opset):
    check(opencl, op, {"x": rand(3, 4, 65)}, opset=opset, axis=axis)


def test_layer_norm_with_statistics_outputs(opencl):
    check(opencl, "LayerNormalization", {"x": rand(3, 5, 33)}, {"s": rand(33), "b": rand(33)}, axis=-1)
    check(opencl, "LayerNormalization", {"x": rand(2, 4, 6)}, {"s": rand(4, 6)}, n_out=3, axis=1, epsilon=1e-3)


@pytest.mark.parametrize("op", ["ReduceMean", "ReduceSum", "ReduceMax"])
@pytest.mark.parametrize("axes, keepdims", [([1], 1), ([0, 2], 0), ([-1], 1), (None, 0)])
def test_reductions(opencl, op, axes, keepdims):
    consts = {"axes": np.array(axes, np.int64)} if axes is not None else {}
    check(opencl, op, {"x": rand(3, 5, 7)}, consts, opset=18, keepdims=keepdims, atol=1e-4)


def test_transpose_concat_split_slice(opencl):
    x = rand(2, 3, 4, 5)
    check(opencl, "Transpose", {"x": x}, perm=[2, 0, 3, 1])
    check(opencl, "Transpose", {"x": x})
    check(opencl, "Concat", {"a": rand(2, 3, 4), "b": rand(2, 1, 4), "c": rand(2, 0, 4)}, axis=1)
    check(opencl, "Split", {"x": rand(4, 10)}, {"s": np.array([3, 7], np.int64)}, n_out=2, axis=1)
    check(opencl, "Split", {"x": rand(7, 3)}, n_out=3, opset=18, num_outputs=3)
    check(opencl, "Slice", {"x": x}, {"st": np.array([1, -1], np.int64), "en": np.array([3, -5], np.int64),
                                      "ax": np.array([1, 3], np.int64), "sp": np.array([1, -2], np.int64)})


def test_gather_with_negative_indices(opencl):
    x = rand(5, 4, 3)
    idx = np.array([[0, -1], [2, 4]], np.int64)
    check(opencl, "Gather", {"x": x}, {"i": idx}, axis=0)
    check(opencl, "Gather", {"x": x}, {"i": np.array([3, 0, -2], np.int32)}, axis=1)


def test_views_reshape_flatten_squeeze_unsqueeze(opencl):
    x = rand(2, 1, 6)
    check(opencl, "Reshape", {"x": rand(2, 3, 6)}, {"s": np.array([3, -1, 0], np.int64)})
    check(opencl, "Flatten", {"x": x}, axis=2)
    check(opencl, "Squeeze", {"x": x}, {"a": np.array([1], np.int64)})
    check(opencl, "Unsqueeze", {"x": x}, {"a": np.array([0, -1], np.int64)})


@pytest.mark.parametrize("mode", ["constant", "reflect", "edge", "wrap"])
def test_pad(opencl, mode):
    pads = np.array([0, 2, 1, 1, 3, 0], np.int64)
    consts = {"p": pads, "v": np.float32(1.5)} if mode == "constant" else {"p": pads}
    check(opencl, "Pad", {"x": rand(2, 4, 3)}, consts, opset=19, mode=mode)


@pytest.mark.parametrize("attrs", [
    dict(mode="nearest"), dict(mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="floor"),
    dict(mode="linear"), dict(mode="linear", coordinate_transformation_mode="align_corners"),
    dict(mode="linear", coordinate_transformation_mode="pytorch_half_pixel"),
], ids=str)
def test_resize(opencl, attrs):
    scales = np.array([1, 1, 2.0, 0.75], np.float32)
    check(opencl, "Resize", {"x": rand(1, 2, 5, 8)}, {"roi": np.zeros(0, np.float32), "sc": scales}, **attrs)
    sizes = np.array([1, 2, 7, 3], np.int64)
    check(opencl, "Resize", {"x": rand(1, 2, 5, 8)}, {"sz": sizes}, _names=["x", "", "", "sz"], **attrs)


@pytest.mark.parametrize("src, dst", [(np.float32, np.int64), (np.int64, np.float32), (np.float32, np.bool_),
                                      (np.float32, np.float16), (np.int32, np.float32), (np.bool_, np.float32)])
def test_cast(opencl, src, dst):
    x = (rand(5, 7) * 10).astype(src)
    check(opencl, "Cast", {"x": x}, to=onnx.helper.np_dtype_to_tensor_dtype(np.dtype(dst)))


def test_expand_tile_dropout_identity(opencl):
    check(opencl, "Expand", {"x": rand(3, 1)}, {"s": np.array([2, 3, 4], np.int64)})
    check(opencl, "Tile", {"x": rand(2, 3)}, {"r": np.array([2, 1], np.int64)})
    check(opencl, "Dropout", {"x": rand(4, 5)}, n_out=2, opset=9)
    check(opencl, "Identity", {"x": rand(4, 5)})


#: NaN, infinities, values that overflow exp / x**3, and a denormal: OpenCL's fmax/fmin drop NaN and its
#: tanh may stop a few ulp short of -1, so these catch kernels that differ from numpy/onnxruntime there
SPECIAL = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e30, -1e30, 1e3, -1e3, 88.0, -88.0, 20.5, -20.5, 3.0, -3.0,
                    1.5, -1.5, 1e-40], np.float32)


@pytest.mark.parametrize("op, attrs", [
    ("Celu", {}), ("Celu", {"alpha": 0.5}), ("HardSigmoid", {}), ("HardSigmoid", {"alpha": 0.3, "beta": 0.4}),
    ("HardSwish", {}), ("Gelu", {"approximate": "tanh"}), ("Gelu", {}), ("Relu", {}), ("LeakyRelu", {"alpha": 0.3}),
    ("Sigmoid", {}), ("Tanh", {}), ("Exp", {}), ("Abs", {}), ("Sign", {}), ("Softsign", {}), ("Softplus", {}),
    ("Elu", {"alpha": 0.7}), ("Selu", {}), ("ThresholdedRelu", {"alpha": 1.0}), ("Floor", {}), ("Erf", {}),
], ids=str)
def test_unary_propagates_nan_and_infinities_like_cpu(opencl, op, attrs):
    check(opencl, op, {"x": SPECIAL}, opset=20, **attrs)


def test_gelu_tanh_matches_cpu_deep_in_the_negative_tail(opencl):
    check(opencl, "Gelu", {"x": np.linspace(-2000, 10, 4001, dtype=np.float32)}, opset=20, approximate="tanh")


@pytest.mark.parametrize("op", ["Max", "Min"])
def test_max_min_propagate_nan_from_either_operand(opencl, op):
    check(opencl, op, {"a": SPECIAL, "b": SPECIAL[::-1].copy()})
    check(opencl, op, {"a": SPECIAL[:, None], "b": SPECIAL[None, :]})


#: rows reduced along axis 1: NaN beside +inf, only infinities, overflowing exp, all -inf
SPECIAL_ROWS = np.array([[np.nan, 1, 2], [np.inf, 1, 2], [-np.inf, -np.inf, -np.inf], [np.nan, np.inf, -np.inf],
                         [np.inf, np.nan, 1], [np.inf, -np.inf, 0], [1e30, 1e30, 1], [88, 89, 90]], np.float32)


@pytest.mark.parametrize("op", ["ReduceLogSumExp", "ReduceMax", "ReduceMin", "ReduceLogSum"])
def test_reductions_propagate_nan_and_infinities_like_cpu(opencl, op):
    check(opencl, op, {"x": SPECIAL_ROWS}, {"axes": np.array([1], np.int64)}, opset=18, keepdims=0)
    check(opencl, op, {"x": SPECIAL_ROWS.T.copy()}, {"axes": np.array([0], np.int64)}, opset=18, keepdims=1)


@pytest.mark.parametrize("op", ["Softmax", "LogSoftmax"])
def test_softmax_propagates_nan_and_infinities_like_cpu(opencl, op):
    check(opencl, op, {"x": SPECIAL_ROWS}, opset=13, axis=1)
    check(opencl, op, {"x": SPECIAL_ROWS.T.copy()}, opset=13, axis=0)
