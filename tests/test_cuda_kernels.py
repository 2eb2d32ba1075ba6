"""Every CUDA kernel against the CPU provider's, one node at a time: random values, odd sizes,
broadcasting edge cases (scalars, size-1 dims, rank differences), empty tensors, float16.

Data inputs are graph inputs (so nothing is constant-folded); shape-like inputs are
initializers. Runs on numpy standing in for CuPy everywhere, and on CuPy where a GPU is present.
"""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from tests.cuda_support import cuda, run_and_compare

FIXTURES = (cuda,)  # the fixtures this module uses, imported from tests.cuda_support

RNG = np.random.default_rng(1234)
ONNX_TYPE = {np.dtype(np.float32): TensorProto.FLOAT, np.dtype(np.float16): TensorProto.FLOAT16,
             np.dtype(np.int64): TensorProto.INT64, np.dtype(np.int32): TensorProto.INT32,
             np.dtype(np.bool_): TensorProto.BOOL, np.dtype(np.uint8): TensorProto.UINT8,
             np.dtype(np.float64): TensorProto.DOUBLE}


def rand(*shape, dtype=np.float32, low=-2.0, high=2.0):
    return RNG.uniform(low, high, size=shape).astype(dtype)


def check(cuda_entry, op, inputs, consts=None, attrs=None, opset=17, outputs=1, rtol=None, atol=None):
    """One `op` node: `inputs` (name -> array) are fed, `consts` (name -> array, or None for an
    omitted optional input) are initializers, in the order inputs then consts unless `order`."""
    consts = consts or {}
    order = list(inputs) + list(consts)
    names = ["" if (n in consts and consts[n] is None) else n for n in order]
    while names and names[-1] == "":
        names.pop()
    outs = [f"out{i}" for i in range(outputs)]
    node = helper.make_node(op, names, outs, **(attrs or {}))
    graph = helper.make_graph(
        [node], "t",
        [helper.make_tensor_value_info(n, ONNX_TYPE[a.dtype], a.shape) for n, a in inputs.items()],
        [helper.make_empty_tensor_value_info(o) for o in outs],
        [numpy_helper.from_array(np.asarray(a), n) for n, a in consts.items() if a is not None])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    half = any(a.dtype == np.float16 for a in inputs.values())
    run_and_compare(model, inputs, cuda_entry, rtol=rtol or (2e-3 if half else 1e-4),
                    atol=atol or (2e-3 if half else 1e-5))


# --------------------------------------------------------------------------- elementwise

BROADCAST = [((3, 4), (4,)), ((2, 1, 5), (1, 3, 1)), ((), (2, 3)), ((0, 3), (1, 3)), ((7,), (7,)),
             ((1,), (5, 1, 1)), ((3, 1), (0,)), ((1, 1, 1, 1), ())]


@pytest.mark.parametrize("op", ["Add", "Sub", "Mul", "Div", "Pow", "Equal", "Less", "Greater"])
@pytest.mark.parametrize("shapes", BROADCAST, ids=str)
def test_binary_broadcasting(cuda, op, shapes):
    a = rand(*shapes[0], low=0.5 if op == "Pow" else -2)
    b = rand(*shapes[1])
    if op == "Div":
        b = np.where(np.abs(b) < 0.1, 1, b).astype(np.float32)
    if op == "Equal":
        b = np.round(b)
        a = np.round(a)
    check(cuda, op, {"a": a, "b": b}, opset=13)


@pytest.mark.parametrize("op", ["Add", "Mul", "Div", "Sub"])
def test_binary_float16_and_int(cuda, op):
    check(cuda, op, {"a": rand(4, 5, dtype=np.float16), "b": rand(5, dtype=np.float16) + 3})
    ai = RNG.integers(-20, 20, size=(3, 6)).astype(np.int64)
    bi = RNG.integers(1, 7, size=(6,)).astype(np.int64) * np.where(RNG.random(6) < 0.5, -1, 1)
    check(cuda, op, {"a": ai, "b": bi})


UNARY = {"Relu": {}, "LeakyRelu": {"alpha": 0.3}, "Sigmoid": {}, "Tanh": {}, "Exp": {}, "Log": {}, "Sqrt": {},
         "Abs": {}, "Neg": {}, "Erf": {}, "HardSigmoid": {"alpha": 0.3, "beta": 0.4}, "HardSwish": {},
         "Softplus": {}, "Floor": {}, "Ceil": {}, "Reciprocal": {}, "Elu": {"alpha": 0.5}, "Sin": {}}


@pytest.mark.parametrize("op", sorted(UNARY))
@pytest.mark.parametrize("shape", [(), (0,), (3, 5, 7), (1,), (2, 0, 3)], ids=str)
@pytest.mark.parametrize("dtype", [np.float32, np.float16], ids=["f32", "f16"])
def test_unary(cuda, op, shape, dtype):
    positive = op in ("Log", "Sqrt", "Reciprocal")
    x = rand(*shape, dtype=dtype, low=0.2 if positive else -3, high=3)
    check(cuda, op, {"x": x}, attrs=UNARY[op], opset=17)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
@pytest.mark.parametrize("dtype", [np.float32, np.float16], ids=["f32", "f16"])
def test_gelu(cuda, approximate, dtype):
    check(cuda, "Gelu", {"x": rand(3, 17, dtype=dtype, low=-4, high=4)}, attrs={"approximate": approximate},
          opset=20)


def test_clip_forms(cuda):
    x = rand(4, 9)
    check(cuda, "Clip", {"x": x}, {"lo": np.float32(-0.5), "hi": np.float32(0.7)}, opset=13)
    check(cuda, "Clip", {"x": x}, {"lo": None, "hi": np.float32(0.7)}, opset=13)
    check(cuda, "Clip", {"x": x}, attrs={"min": -1.0, "max": 0.25}, opset=9)
    check(cuda, "Clip", {"x": rand(0, 3)}, {"lo": np.float32(0.0)}, opset=13)


def test_where_broadcasts_three_ways(cuda):
    c = RNG.random((2, 1, 5)) > 0.5
    check(cuda, "Where", {"c": c, "x": rand(3, 1), "y": rand(1, 3, 5)})
    check(cuda, "Where", {"c": np.array(True), "x": rand(0, 2), "y": rand(2)})


def test_variadic_sum_max_min_mean(cuda):
    for op in ("Sum", "Max", "Min", "Mean"):
        check(cuda, op, {"a": rand(2, 3, 4), "b": rand(3, 1), "c": rand(4)}, opset=13)
        check(cuda, op, {"a": rand(5)}, opset=13)


@pytest.mark.parametrize("to,src", [(TensorProto.FLOAT16, np.float32), (TensorProto.FLOAT, np.float16),
                                    (TensorProto.INT64, np.float32), (TensorProto.FLOAT, np.int64),
                                    (TensorProto.BOOL, np.float32), (TensorProto.INT32, np.int64)])
def test_cast(cuda, to, src):
    x = (rand(3, 7) * 10).astype(src)
    check(cuda, "Cast", {"x": x}, attrs={"to": to}, opset=13)


def test_dropout_is_identity_in_inference(cuda):
    check(cuda, "Dropout", {"x": rand(3, 4)}, attrs={"ratio": 0.3}, opset=9, outputs=2)
    check(cuda, "Dropout", {"x": rand(3, 4)}, opset=13)


# --------------------------------------------------------------------------- matmul


@pytest.mark.parametrize("sa,sb", [((3, 4), (4, 5)), ((2, 3, 4), (4, 5)), ((5,), (5, 3)), ((4, 6), (6,)),
                                   ((2, 1, 3, 4), (3, 4, 2)), ((0, 4), (4, 3)), ((3, 0), (0, 2)),
                                   ((1, 33), (33, 17))], ids=str)
def test_matmul(cuda, sa, sb):
    check(cuda, "MatMul", {"a": rand(*sa), "b": rand(*sb)})


def test_matmul_float16(cuda):
    check(cuda, "MatMul", {"a": rand(2, 5, 8, dtype=np.float16), "b": rand(8, 3, dtype=np.float16)},
          rtol=1e-2, atol=1e-2)


@pytest.mark.parametrize("ta,tb,alpha,beta,cshape", [(0, 0, 1.0, 1.0, (5,)), (1, 0, 0.5, 2.0, (3, 5)),
                                                     (0, 1, 1.0, 0.0, (1, 5)), (1, 1, 2.0, 1.0, (3, 1)),
                                                     (0, 0, 1.0, 1.0, None)])
def test_gemm(cuda, ta, tb, alpha, beta, cshape):
    a = rand(4, 3) if ta else rand(3, 4)
    b = rand(5, 4) if tb else rand(4, 5)
    consts = {"c": rand(*cshape)} if cshape is not None else {}
    check(cuda, "Gemm", {"a": a, "b": b}, consts, attrs={"transA": ta, "transB": tb, "alpha": alpha, "beta": beta},
          opset=13)


# --------------------------------------------------------------------------- conv


CONVS = [
    ((1, 3, 7, 9), (4, 3, 3, 3), {}),
    ((2, 4, 8, 8), (6, 2, 3, 3), {"group": 2, "pads": [1, 1, 1, 1]}),
    ((1, 6, 9, 9), (6, 1, 3, 3), {"group": 6, "strides": [2, 2], "pads": [1, 0, 1, 2]}),  # depthwise
    ((1, 3, 11, 10), (5, 3, 3, 2), {"dilations": [2, 3], "strides": [1, 2]}),
    ((2, 5, 6, 7), (4, 5, 1, 1), {"strides": [2, 2]}),  # 1x1 strided: a plain GEMM
    ((1, 2, 7, 7), (3, 2, 4, 4), {"auto_pad": "SAME_UPPER", "strides": [2, 2]}),
    ((1, 2, 7, 7), (3, 2, 2, 3), {"auto_pad": "SAME_LOWER"}),
    ((2, 3, 15), (4, 3, 5), {"pads": [2, 1], "strides": [2]}),  # 1-D
    ((1, 2, 4, 5, 6), (3, 2, 2, 3, 2), {"pads": [1, 0, 1, 0, 1, 1]}),  # 3-D
]


@pytest.mark.parametrize("xs,ws,attrs", CONVS, ids=lambda v: str(v))
@pytest.mark.parametrize("bias", [True, False])
def test_conv(cuda, xs, ws, attrs, bias):
    consts = {"w": rand(*ws)}
    if bias:
        consts["b"] = rand(ws[0])
    check(cuda, "Conv", {"x": rand(*xs)}, consts, attrs=attrs, opset=13)


def test_conv_float16(cuda):
    check(cuda, "Conv", {"x": rand(1, 4, 6, 6, dtype=np.float16)},
          {"w": rand(4, 2, 3, 3, dtype=np.float16), "b": rand(4, dtype=np.float16)},
          attrs={"group": 2, "pads": [1, 1, 1, 1]}, opset=13, rtol=1e-2, atol=1e-2)


@pytest.mark.parametrize("xs,ws,attrs", [
    ((1, 3, 4, 5), (3, 2, 3, 3), {}),
    ((2, 4, 3, 3), (4, 1, 3, 3), {"strides": [2, 2], "pads": [1, 1, 1, 1], "output_padding": [1, 1], "group": 2}),
    ((1, 2, 5), (2, 3, 4), {"strides": [3], "dilations": [2]}),
    ((1, 2, 3, 3), (2, 2, 2, 2), {"strides": [2, 2], "output_shape": [7, 7], "auto_pad": "SAME_UPPER"}),
], ids=str)
def test_conv_transpose(cuda, xs, ws, attrs):
    check(cuda, "ConvTranspose", {"x": rand(*xs)}, {"w": rand(*ws), "b": rand(ws[1] * attrs.get("group", 1))},
          attrs=attrs, opset=13)


# --------------------------------------------------------------------------- pooling, normalization

POOLS = [
    ({"kernel_shape": [3, 3], "strides": [2, 2]}, (1, 3, 9, 9)),
    ({"kernel_shape": [3, 3], "strides": [2, 2], "ceil_mode": 1}, (2, 2, 8, 10)),
    ({"kernel_shape": [2, 3], "pads": [1, 1, 0, 1]}, (1, 2, 5, 6)),
    ({"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "count_include_pad": 1}, (1, 2, 5, 6)),
    ({"kernel_shape": [3, 2], "dilations": [2, 1], "strides": [1, 2]}, (1, 1, 9, 7)),
    ({"kernel_shape": [3], "strides": [2], "pads": [1, 1]}, (2, 3, 11)),
    ({"kernel_shape": [2, 2, 2], "strides": [1, 2, 2]}, (1, 2, 4, 5, 6)),
    ({"kernel_shape": [3, 3], "auto_pad": "SAME_UPPER", "strides": [2, 2]}, (1, 2, 7, 8)),
]


@pytest.mark.parametrize("op", ["MaxPool", "AveragePool"])
@pytest.mark.parametrize("attrs,shape", POOLS, ids=str)
@pytest.mark.parametrize("dtype", [np.float32, np.float16], ids=["f32", "f16"])
def test_pool(cuda, op, attrs, shape, dtype):
    attrs = dict(attrs)
    if op == "MaxPool":
        attrs.pop("count_include_pad", None)
    elif "dilations" in attrs:
        pytest.skip("AveragePool dilations need opset 19")
    check(cuda, op, {"x": rand(*shape, dtype=dtype)}, attrs=attrs, opset=18)


def test_maxpool_indices(cuda):
    check(cuda, "MaxPool", {"x": rand(2, 3, 6, 7)}, attrs={"kernel_shape": [2, 3], "strides": [2, 2],
                                                           "pads": [0, 1, 0, 1]}, opset=12, outputs=2)
    check(cuda, "MaxPool", {"x": rand(1, 2, 5, 5)}, attrs={"kernel_shape": [2, 2], "storage_order": 1},
          opset=12, outputs=2)


@pytest.mark.parametrize("op", ["GlobalAveragePool", "GlobalMaxPool"])
def test_global_pools(cuda, op):
    check(cuda, op, {"x": rand(2, 3, 5, 7)})
    check(cuda, op, {"x": rand(1, 4, 9)})


@pytest.mark.parametrize("dtype", [np.float32, np.float16], ids=["f32", "f16"])
def test_batch_normalization(cuda, dtype):
    c = 5
    consts = {"s": rand(c, dtype=dtype), "b": rand(c, dtype=dtype), "m": rand(c, dtype=dtype),
              "v": rand(c, dtype=dtype, low=0.5, high=2)}
    check(cuda, "BatchNormalization", {"x": rand(2, c, 4, 3, dtype=dtype)}, consts, attrs={"epsilon": 1e-3}, opset=15)
    check(cuda, "BatchNormalization", {"x": rand(3, c, dtype=dtype)}, consts, opset=9)


@pytest.mark.parametrize("size", [1, 3, 4, 5])
def test_lrn(cuda, size):
    check(cuda, "LRN", {"x": rand(2, 6, 4, 3)}, attrs={"size": size, "alpha": 1e-3, "beta": 0.7, "bias": 1.5})


@pytest.mark.parametrize("op", ["Softmax", "LogSoftmax"])
@pytest.mark.parametrize("opset,axis,shape", [(13, -1, (3, 7)), (13, 1, (2, 5, 3)), (13, 0, (4, 3)),
                                              (11, 1, (2, 3, 4)), (11, 2, (2, 3, 4)), (13, -1, (2, 1000)),
                                              (13, -1, (0, 4)), (11, 0, (3, 5))], ids=str)
@pytest.mark.parametrize("dtype", [np.float32, np.float16], ids=["f32", "f16"])
def test_softmax(cuda, op, opset, axis, shape, dtype):
    check(cuda, op, {"x": rand(*shape, dtype=dtype, low=-5, high=5)}, attrs={"axis": axis}, opset=opset)


@pytest.mark.parametrize("axis,shape,bias", [(-1, (2, 3, 16), True), (1, (2, 3, 5), False), (-1, (7, 1), True),
                                             (0, (3, 4), True)], ids=str)
@pytest.mark.parametrize("outputs", [1, 3])
@pytest.mark.parametrize("dtype", [np.float32, np.float16], ids=["f32", "f16"])
def test_layer_normalization(cuda, axis, shape, bias, outputs, dtype):
    norm = shape[axis % len(shape):]
    consts = {"s": rand(*norm, dtype=dtype), "b": rand(*norm, dtype=dtype) if bias else None}
    check(cuda, "LayerNormalization", {"x": rand(*shape, dtype=dtype)}, consts, attrs={"axis": axis, "epsilon": 1e-4},
          outputs=outputs)


def test_instance_normalization(cuda):
    check(cuda, "InstanceNormalization", {"x": rand(2, 3, 4, 5)}, {"s": rand(3), "b": rand(3)})


# --------------------------------------------------------------------------- reductions


@pytest.mark.parametrize("op", ["ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL2",
                                "ReduceLogSumExp", "ReduceSumSquare"])
@pytest.mark.parametrize("axes,keepdims,shape", [([1], 1, (2, 3, 4)), ([0, 2], 0, (2, 3, 4)), (None, 1, (3, 5)),
                                                 ([-1], 0, (4, 1)), ([1], 1, (2, 0, 3)), (None, 0, (0, 2))],
                         ids=str)
def test_reduce(cuda, op, axes, keepdims, shape):
    if op in ("ReduceMax", "ReduceMin", "ReduceLogSumExp") and 0 in shape:
        pytest.skip("the CPU provider's empty-input convention is tested on the CPU")
    x = rand(*shape, low=0.5 if op == "ReduceProd" else -2)
    consts = {"axes": np.array(axes, np.int64)} if axes is not None else {}
    check(cuda, op, {"x": x}, consts, attrs={"keepdims": keepdims}, opset=18)


def test_reduce_axes_attribute_and_noop(cuda):
    check(cuda, "ReduceMean", {"x": rand(2, 3, 4)}, attrs={"axes": [1, 2]}, opset=13)
    check(cuda, "ReduceSum", {"x": rand(2, 3)}, attrs={"noop_with_empty_axes": 1}, opset=13)
    check(cuda, "ReduceMax", {"x": rand(2, 3, 4)}, attrs={"axes": [0], "keepdims": 0}, opset=13)


@pytest.mark.parametrize("op", ["ArgMax", "ArgMin"])
def test_arg_reductions(cuda, op):
    x = np.round(rand(3, 4, 5) * 2)
    check(cuda, op, {"x": x}, attrs={"axis": 1, "keepdims": 0, "select_last_index": 1}, opset=13)
    check(cuda, op, {"x": x}, attrs={"axis": -1}, opset=13)


# --------------------------------------------------------------------------- tensor ops


def test_transpose_concat_split(cuda):
    check(cuda, "Transpose", {"x": rand(2, 3, 4)}, attrs={"perm": [2, 0, 1]})
    check(cuda, "Transpose", {"x": rand(2, 3, 4)})
    check(cuda, "Concat", {"a": rand(2, 3), "b": rand(2, 0), "c": rand(2, 5)}, attrs={"axis": -1})
    check(cuda, "Concat", {"a": rand(1, 3, dtype=np.float16), "b": rand(4, 3, dtype=np.float16)}, attrs={"axis": 0})
    check(cuda, "Split", {"x": rand(7, 4)}, {"split": np.array([2, 0, 5], np.int64)}, attrs={"axis": 0}, opset=13,
          outputs=3)
    check(cuda, "Split", {"x": rand(3, 7)}, attrs={"axis": 1, "num_outputs": 3}, opset=18, outputs=3)
    check(cuda, "Split", {"x": rand(3, 6)}, attrs={"axis": 1, "split": [1, 5]}, opset=11, outputs=2)


@pytest.mark.parametrize("starts,ends,axes,steps", [([1], [3], [0], [1]), ([-1, 0], [-4, 10], [1, 0], [-1, 2]),
                                                    ([0], [0], [1], None), ([10], [-10], [1], [-3]),
                                                    ([2, 1], [100, -1], None, None)], ids=str)
def test_slice(cuda, starts, ends, axes, steps):
    consts = {"starts": np.array(starts, np.int64), "ends": np.array(ends, np.int64),
              "axes": None if axes is None else np.array(axes, np.int64),
              "steps": None if steps is None else np.array(steps, np.int64)}
    check(cuda, "Slice", {"x": rand(5, 6)}, consts, opset=13)


@pytest.mark.parametrize("axis,ishape", [(0, (4,)), (1, (2, 3)), (-1, ()), (2, (0,)), (1, (5,))], ids=str)
@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.int64, np.bool_, np.uint8], ids=str)
def test_gather(cuda, axis, ishape, dtype):
    x = (rand(3, 4, 5) * 5).astype(dtype)
    n = x.shape[axis]
    idx = RNG.integers(-n, n, size=ishape).astype(np.int64)
    check(cuda, "Gather", {"x": x, "i": idx}, attrs={"axis": axis}, opset=13)


@pytest.mark.parametrize("op,attrs", [("Gather", {"axis": 1}), ("GatherElements", {"axis": 1})])
def test_an_out_of_range_index_is_an_error_naming_the_op(cuda, op, attrs):
    import ep_runtime as ep
    from ep_runtime.errors import KernelError

    x, idx = rand(2, 3), np.array([[0, 3], [1, -4]], np.int64)
    node = helper.make_node(op, ["x", "i"], ["y"], **attrs)
    model = helper.make_model(helper.make_graph(
        [node], "t", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x.shape),
                      helper.make_tensor_value_info("i", TensorProto.INT64, idx.shape)],
        [helper.make_empty_tensor_value_info("y")]), opset_imports=[helper.make_opsetid("", 13)])
    sess = ep.InferenceSession(model, providers=[cuda])
    with pytest.raises(KernelError, match=rf"{op}.*out of range"):
        sess.run(None, {"x": x, "i": idx})


def test_gather_elements_scatter_family(cuda):
    x = rand(3, 4)
    idx = RNG.integers(-3, 3, size=(2, 4)).astype(np.int64)
    check(cuda, "GatherElements", {"x": x, "i": idx}, attrs={"axis": 0}, opset=13)
    perm = np.stack([RNG.permutation(4)[:3] for _ in range(3)]).astype(np.int64)
    check(cuda, "ScatterElements", {"x": x, "i": perm, "u": rand(3, 3)}, attrs={"axis": 1}, opset=13)
    dup = RNG.integers(0, 4, size=(3, 5)).astype(np.int64)
    for red in ("add", "max", "min"):
        check(cuda, "ScatterElements", {"x": x, "i": dup, "u": rand(3, 5)}, attrs={"axis": 1, "reduction": red},
              opset=18)
    nd_idx = np.array([[0, 1], [2, 3], [1, 0]], np.int64)
    check(cuda, "GatherND", {"x": x, "i": nd_idx}, opset=13)
    check(cuda, "ScatterND", {"x": x, "i": nd_idx, "u": rand(3)}, opset=13)
    check(cuda, "ScatterND", {"x": x, "i": np.array([[1], [1]], np.int64), "u": rand(2, 4)},
          attrs={"reduction": "add"}, opset=18)
    check(cuda, "GatherND", {"x": rand(2, 3, 4), "i": np.array([[1], [2]], np.int64)}, attrs={"batch_dims": 1},
          opset=13)


def test_reshape_flatten_squeeze_unsqueeze_expand_tile(cuda):
    x = rand(2, 1, 6)
    check(cuda, "Reshape", {"x": x}, {"s": np.array([0, 3, -1], np.int64)}, opset=13)
    check(cuda, "Reshape", {"x": rand(0, 4)}, {"s": np.array([2, 0, 3], np.int64)}, attrs={"allowzero": 1},
          opset=14)
    check(cuda, "Flatten", {"x": rand(2, 3, 4)}, attrs={"axis": 2})
    check(cuda, "Flatten", {"x": rand(2, 3)}, attrs={"axis": 0})
    check(cuda, "Squeeze", {"x": x}, {"axes": np.array([1], np.int64)}, opset=13)
    check(cuda, "Squeeze", {"x": x}, attrs={"axes": [-2]}, opset=11)
    check(cuda, "Unsqueeze", {"x": x}, {"axes": np.array([0, -1], np.int64)}, opset=13)
    check(cuda, "Unsqueeze", {"x": x}, attrs={"axes": [1]}, opset=11)
    check(cuda, "Expand", {"x": rand(3, 1)}, {"s": np.array([2, 1, 4], np.int64)})
    check(cuda, "Tile", {"x": rand(2, 3)}, {"r": np.array([2, 1], np.int64)})


@pytest.mark.parametrize("mode", ["constant", "reflect", "edge", "wrap"])
def test_pad(cuda, mode):
    consts = {"pads": np.array([1, 0, 2, 2], np.int64), "v": np.array(1.5, np.float32) if mode == "constant" else None}
    check(cuda, "Pad", {"x": rand(3, 4)}, consts, attrs={"mode": mode}, opset=19)
    check(cuda, "Pad", {"x": rand(3, 4)}, {"pads": np.array([-1, 1, 0, -2], np.int64)}, attrs={"mode": mode},
          opset=13)


def test_constant_of_shape_makes_its_output_on_the_device(cuda):
    from onnx import helper as h

    model = h.make_model(h.make_graph(
        [h.make_node("Shape", ["x"], ["s"]),
         h.make_node("ConstantOfShape", ["s"], ["c"], value=numpy_helper.from_array(np.array([2.5], np.float32))),
         h.make_node("Mul", ["x", "c"], ["y"])], "t",
        [h.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3])],
        [h.make_tensor_value_info("y", TensorProto.FLOAT, None)]), opset_imports=[h.make_opsetid("", 17)])
    sess = run_and_compare(model, {"x": rand(4, 3)}, cuda, all_on_cuda=False)
    assert sess.get_partition().assignment()["#2"] == "CUDAExecutionProvider"


# --------------------------------------------------------------------------- Resize

RESIZES = [
    ({"mode": "nearest"}, (1, 2, 3, 4), [1, 1, 2, 1.5], None),
    ({"mode": "nearest", "nearest_mode": "floor", "coordinate_transformation_mode": "asymmetric"},
     (2, 1, 5, 5), [1, 1, 0.6, 1.4], None),
    ({"mode": "linear"}, (1, 2, 4, 5), [1, 1, 1.7, 0.5], None),
    ({"mode": "linear", "coordinate_transformation_mode": "align_corners"}, (1, 1, 4, 4), None, [1, 1, 7, 3]),
    ({"mode": "linear", "coordinate_transformation_mode": "pytorch_half_pixel"}, (1, 3, 1, 6), None, [1, 3, 1, 9]),
    ({"mode": "nearest", "nearest_mode": "round_prefer_ceil"}, (2, 3, 4), [1, 2, 2.5], None),
    ({"mode": "linear", "coordinate_transformation_mode": "tf_crop_and_resize", "extrapolation_value": -1.0},
     (1, 1, 4, 4), None, [1, 1, 3, 5]),
    ({"mode": "linear", "exclude_outside": 1}, (1, 1, 3, 6), [1, 1, 2, 0.5], None),
]


@pytest.mark.parametrize("attrs,shape,scales,sizes", RESIZES, ids=str)
@pytest.mark.parametrize("dtype", [np.float32, np.float16], ids=["f32", "f16"])
def test_resize(cuda, attrs, shape, scales, sizes, dtype):
    roi = None
    if attrs.get("coordinate_transformation_mode") == "tf_crop_and_resize":
        roi = np.array([0, 0, 0.1, 0.2, 1, 1, 0.9, 1.3], np.float32)
    consts = {"roi": roi, "scales": None if scales is None else np.array(scales, np.float32),
              "sizes": None if sizes is None else np.array(sizes, np.int64)}
    check(cuda, "Resize", {"x": rand(*shape, dtype=dtype)}, consts, attrs=attrs, opset=19)


def test_upsample_and_resize_10(cuda):
    check(cuda, "Upsample", {"x": rand(1, 2, 3, 3)}, {"s": np.array([1, 1, 2, 3], np.float32)},
          attrs={"mode": "nearest"}, opset=9)
    check(cuda, "Resize", {"x": rand(1, 2, 3, 3)}, {"s": np.array([1, 1, 2, 1.5], np.float32)},
          attrs={"mode": "linear"}, opset=10)


@pytest.mark.parametrize("op,attrs", [("Relu", {}), ("Elu", {"alpha": 0.5}), ("LeakyRelu", {"alpha": 0.2}),
                                      ("Sigmoid", {}), ("HardSigmoid", {"alpha": 0.3, "beta": 0.4})])
def test_opset_1_forms_with_consumed_inputs_run_the_shared_kernels(cuda, op, attrs):
    """Version 1's `consumed_inputs` changes nothing: the registry ignores it, so CUDA takes these nodes
    with the CPU's function of the later version."""
    check(cuda, op, {"x": rand(3, 4)}, attrs={"consumed_inputs": [0], **attrs}, opset=5)


def test_batch_normalization_7_and_instance_normalization_1_run_on_cuda(cuda):
    c = 3
    params = {"s": rand(c, low=0.5), "b": rand(c), "m": rand(c), "v": rand(c, low=0.5, high=1.5)}
    check(cuda, "BatchNormalization", {"x": rand(2, c, 4, 5)}, params, attrs={"epsilon": 1e-3, "spatial": 1},
          opset=7)
    check(cuda, "InstanceNormalization", {"x": rand(2, c, 4, 5)}, {"s": params["s"], "b": params["b"]},
          attrs={"consumed_inputs": [0]}, opset=5)
