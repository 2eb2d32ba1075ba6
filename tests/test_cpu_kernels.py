"""CPU provider kernels, called directly: each is compared with onnxruntime on a one-node model
(or with numpy by hand where onnxruntime has no such opset), across the versions it registers."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from ep_runtime.graph import attr_param_name
from providers.cpu import REGISTRY, CPUExecutionProvider
from providers.cpu import conv as conv_module

ort = pytest.importorskip("onnxruntime")

RTOL, ATOL = 1e-3, 1e-5
rng = np.random.default_rng(1234)


def randn(*shape, dtype=np.float32):
    return rng.standard_normal(shape).astype(dtype)


def kernel_for(op: str, opset: int, domain: str = ""):
    """The registered kernel covering `op`'s schema version at `opset`."""
    version = onnx.defs.get_schema(op, opset, domain).since_version
    matches = [k for k in REGISTRY.versions(op, domain) if k.covers(version)]
    assert matches, f"no CPU kernel for {op} version {version}"
    return matches[-1]


def run_kernel(op: str, inputs: list, attrs: dict | None = None, opset: int = 17, n_outputs: int = 1):
    k = kernel_for(op, opset)
    kwargs = {attr_param_name(a): numpy_helper.to_array(v) if isinstance(v, onnx.TensorProto) else v
              for a, v in (attrs or {}).items()}
    if "_num_outputs" in k.context_names:
        kwargs["_num_outputs"] = n_outputs
    if "_opset" in k.context_names:
        kwargs["_opset"] = opset
    args = list(inputs)
    while args and args[-1] is None:
        args.pop()
    out = k.fn(*args, **kwargs)
    return list(out) if k.multi_output else [out]


def _elem(arr: np.ndarray) -> int:
    return TensorProto.STRING if arr.dtype == object else helper.np_dtype_to_tensor_dtype(arr.dtype)


def run_ort(op: str, inputs: list, attrs: dict | None = None, opset: int = 17, n_outputs: int = 1):
    inputs = list(inputs)
    while inputs and inputs[-1] is None:
        inputs.pop()
    names = [f"i{j}" if x is not None else "" for j, x in enumerate(inputs)]
    outs = [f"o{j}" for j in range(n_outputs)]
    node = helper.make_node(op, names, outs, **(attrs or {}))
    graph = helper.make_graph(
        [node], "g",
        [helper.make_tensor_value_info(n, _elem(x), x.shape) for n, x in zip(names, inputs) if x is not None],
        [helper.make_empty_tensor_value_info(o) for o in outs],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = min(model.ir_version, 10)
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    return sess.run(None, {n: x for n, x in zip(names, inputs) if x is not None})


def check(op: str, inputs: list, attrs: dict | None = None, opset: int = 17, n_outputs: int = 1,
          rtol: float = RTOL, atol: float = ATOL):
    got = run_kernel(op, inputs, attrs, opset, n_outputs)
    want = run_ort(op, inputs, attrs, opset, n_outputs)
    assert len(got) >= n_outputs
    for g, w in zip(got[:n_outputs], want):
        assert type(g) is np.ndarray, f"{op} returned {type(g).__name__}, not an ndarray"
        assert g.dtype == w.dtype, f"{op}: dtype {g.dtype}, onnxruntime {w.dtype}"
        assert g.shape == w.shape, f"{op}: shape {g.shape}, onnxruntime {w.shape}"
        if g.dtype == object:
            assert g.tolist() == w.tolist()
        else:
            np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)


# --------------------------------------------------------------------------- registry and contract


def test_provider_identity():
    assert CPUExecutionProvider.name == "CPUExecutionProvider"
    assert "cpu" in CPUExecutionProvider.aliases
    assert CPUExecutionProvider.device == "cpu"
    assert CPUExecutionProvider.registry is REGISTRY


def test_plugin_module_contributes_the_provider():
    from providers.cpu import plugin

    assert plugin.ep_runtime_providers() == [CPUExecutionProvider]


SCOPE_OPS = (
    "Abs Add AveragePool BatchNormalization Clip Concat ConcatFromSequence Constant ConstantOfShape Conv "
    "ConvTranspose Div Dropout Elu Exp Expand Flatten Gather Gemm GlobalAveragePool InstanceNormalization LRN "
    "LeakyRelu LogSoftmax MatMul Max MaxPool Min Mul Neg PRelu Pad Pow ReduceMean ReduceSum Relu Reshape Selu "
    "SequenceAt SequenceConstruct SequenceEmpty SequenceErase SequenceInsert SequenceLength Shrink Sigmoid Sign "
    "Slice Softmax Softplus Split SplitToSequence Sqrt Squeeze StringNormalizer Sub Sum Tanh Tile Transpose "
    "Unsqueeze Cast Shape Size Identity Where Range GlobalMaxPool HardSigmoid HardSwish Erf Gelu "
    "LayerNormalization ReduceMax ReduceMin ReduceProd ReduceL1 ReduceL2 ReduceLogSum ReduceLogSumExp "
    "ReduceSumSquare Equal Less Greater LessOrEqual GreaterOrEqual And Or Xor Not"
).split()


def _schema_versions(op: str, domain: str = "") -> list[int]:
    out, v = [], onnx.defs.onnx_opset_version()
    while v >= 1:
        try:
            s = onnx.defs.get_schema(op, v, domain)
        except onnx.defs.SchemaError:
            break
        out.append(s.since_version)
        v = s.since_version - 1
    return sorted(out)


@pytest.mark.parametrize("op", SCOPE_OPS)
def test_every_version_of_scope_op_up_to_23_has_a_kernel(op):
    for v in _schema_versions(op):
        if v <= 23:
            assert any(k.covers(v) for k in REGISTRY.versions(op)), f"{op} version {v} has no kernel"


@pytest.mark.parametrize("op", [op for _, op in REGISTRY.ops()])
def test_kernel_attributes_match_the_schema_of_each_version(op):
    """A kernel declares exactly the attributes of the schema versions it covers (no more, no fewer)."""
    for v in _schema_versions(op):
        covering = [k for k in REGISTRY.versions(op) if k.covers(v)]
        if not covering:
            continue
        k = covering[-1]
        schema = {attr_param_name(a) for a in onnx.defs.get_schema(op, v).attributes}
        assert schema == set(k.attribute_names), (op, v, k.version_range)


@pytest.mark.parametrize("op,opset,name", [
    ("Softmax", 11, "Softmax_1"), ("Softmax", 13, "Softmax"),
    ("Squeeze", 11, "Squeeze_1"), ("Squeeze", 13, "Squeeze"),
    ("Slice", 9, "Slice_1"), ("Slice", 10, "Slice"),
    ("Pad", 1, "Pad_1"), ("Pad", 2, "Pad_2"), ("Pad", 11, "Pad_11"), ("Pad", 18, "Pad"), ("Pad", 23, "Pad"),
    ("Split", 1, "Split_1"), ("Split", 2, "Split_2"), ("Split", 13, "Split_13"), ("Split", 18, "Split"),
    ("ReduceSum", 12, "ReduceSum_1"), ("ReduceSum", 13, "ReduceSum"),
    ("ReduceMean", 17, "ReduceMean_1"), ("ReduceMean", 18, "ReduceMean"),
    ("Clip", 6, "Clip_6"), ("Clip", 11, "Clip"),
    ("Dropout", 7, "Dropout_7"), ("Dropout", 12, "Dropout"),
    ("BatchNormalization", 6, "BatchNormalization_6"), ("BatchNormalization", 9, "BatchNormalization_9"),
    ("BatchNormalization", 15, "BatchNormalization"),
    ("MaxPool", 7, "MaxPool_1"), ("MaxPool", 8, "MaxPool_8"), ("MaxPool", 12, "MaxPool"),
])
def test_version_dispatch_picks_the_kernel_for_the_model_opset(op, opset, name):
    assert kernel_for(op, opset).fn.__name__ == name


# --------------------------------------------------------------------------- Conv, ConvTranspose

CONV_CASES = [
    ((1, 3, 9, 9), (4, 3, 3, 3), {}),
    ((2, 3, 9, 8), (4, 3, 3, 3), {"pads": [1, 1, 1, 1], "strides": [2, 2]}),
    ((1, 4, 10, 10), (6, 2, 3, 3), {"group": 2, "pads": [1, 0, 2, 1]}),
    ((1, 4, 11, 11), (4, 1, 3, 3), {"group": 4, "pads": [1, 1, 1, 1]}),  # depthwise
    ((1, 4, 11, 11), (8, 1, 3, 3), {"group": 4, "strides": [2, 2]}),  # depth multiplier
    ((1, 4, 12, 12), (5, 4, 3, 3), {"dilations": [2, 2], "pads": [2, 2, 2, 2]}),
    ((2, 8, 7, 7), (16, 8, 1, 1), {}),  # 1x1 fast path
    ((1, 8, 7, 7), (16, 8, 1, 1), {"strides": [2, 2]}),
    ((1, 8, 7, 7), (12, 2, 1, 1), {"group": 4}),
    ((1, 3, 9, 9), (4, 3, 3, 3), {"auto_pad": "SAME_UPPER", "strides": [2, 2]}),
    ((1, 3, 10, 10), (4, 3, 4, 4), {"auto_pad": "SAME_LOWER"}),
    ((1, 3, 10, 10), (4, 3, 3, 3), {"auto_pad": "VALID", "strides": [3, 3]}),
    ((2, 3, 17), (5, 3, 4), {"pads": [1, 2], "strides": [2]}),  # 1-D
    ((1, 2, 6, 7, 5), (3, 2, 3, 3, 2), {"pads": [1, 1, 0, 1, 1, 1]}),  # 3-D
]


@pytest.mark.parametrize("xs,ws,attrs", CONV_CASES)
@pytest.mark.parametrize("bias", [True, False])
def test_conv_matches_onnxruntime(xs, ws, attrs, bias):
    x, w = randn(*xs), randn(*ws)
    inputs = [x, w] + ([randn(ws[0])] if bias else [])
    check("Conv", inputs, dict(attrs, kernel_shape=list(ws[2:])), opset=11)


def test_conv_builds_im2col_in_blocks_of_rows(monkeypatch):
    monkeypatch.setattr(conv_module, "IM2COL_BLOCK_BYTES", 512)
    x, w, b = randn(1, 3, 13, 11), randn(4, 3, 3, 3), randn(4)
    check("Conv", [x, w, b], {"pads": [1, 1, 1, 1], "strides": [2, 1]}, opset=11)


def test_conv_keeps_float32():
    y = run_kernel("Conv", [randn(1, 3, 8, 8), randn(4, 3, 3, 3), randn(4)], {"pads": [1, 1, 1, 1]})[0]
    assert y.dtype == np.float32


@pytest.mark.parametrize("xs,ws,attrs", [
    ((1, 3, 5, 5), (3, 2, 3, 3), {}),
    ((1, 3, 5, 4), (3, 2, 3, 3), {"strides": [2, 2], "pads": [1, 1, 1, 1]}),
    ((1, 3, 5, 5), (3, 2, 3, 3), {"strides": [2, 2], "output_padding": [1, 1]}),
    ((2, 4, 4, 4), (4, 3, 3, 3), {"group": 2, "strides": [2, 2]}),
    ((1, 2, 5, 5), (2, 3, 3, 3), {"dilations": [2, 2]}),
    ((1, 2, 4, 4), (2, 3, 3, 3), {"strides": [2, 2], "output_shape": [9, 10]}),
    ((1, 2, 4, 4), (2, 3, 3, 3), {"strides": [2, 2], "auto_pad": "SAME_UPPER"}),
    ((1, 2, 6), (2, 3, 4), {"strides": [3], "pads": [1, 2]}),
])
def test_conv_transpose_matches_onnxruntime(xs, ws, attrs):
    check("ConvTranspose", [randn(*xs), randn(*ws), randn(ws[1] * attrs.get("group", 1))], attrs, opset=11)


def test_conv_channel_mismatch_is_a_clear_error():
    with pytest.raises(ValueError, match=r"Conv: X has 3 channels but W of shape \(4, 2, 3, 3\)"):
        run_kernel("Conv", [randn(1, 3, 8, 8), randn(4, 2, 3, 3)])


# --------------------------------------------------------------------------- pooling

POOL_CASES = [
    ((1, 2, 9, 9), {"kernel_shape": [3, 3]}),
    ((2, 3, 10, 9), {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}),
    ((1, 2, 10, 10), {"kernel_shape": [3, 3], "strides": [2, 2], "ceil_mode": 1}),
    ((1, 2, 11, 10), {"kernel_shape": [2, 3], "strides": [3, 2], "pads": [1, 0, 1, 1], "ceil_mode": 1}),
    ((1, 2, 9, 9), {"kernel_shape": [3, 3], "strides": [2, 2], "auto_pad": "SAME_UPPER"}),
    ((1, 2, 10, 10), {"kernel_shape": [4, 4], "strides": [3, 3], "auto_pad": "SAME_LOWER"}),
    ((1, 2, 9, 9), {"kernel_shape": [3, 3], "auto_pad": "VALID", "strides": [2, 2]}),
    ((1, 2, 12, 12), {"kernel_shape": [3, 3], "dilations": [2, 2], "pads": [2, 2, 2, 2]}),
    ((2, 3, 15), {"kernel_shape": [4], "strides": [2], "pads": [1, 2]}),
    ((1, 2, 6, 7, 5), {"kernel_shape": [2, 3, 2], "strides": [2, 2, 1]}),
]


@pytest.mark.parametrize("xs,attrs", POOL_CASES)
def test_max_pool_matches_onnxruntime(xs, attrs):
    check("MaxPool", [randn(*xs)], attrs, opset=12)


@pytest.mark.parametrize("xs,attrs", [c for c in POOL_CASES if "dilations" not in c[1]][:6])
@pytest.mark.parametrize("storage_order", [0, 1])
def test_max_pool_indices_match_onnxruntime(xs, attrs, storage_order):
    if storage_order and "pads" in attrs:
        pytest.skip("onnxruntime does not support storage_order=1 with pads")
    check("MaxPool", [randn(*xs)], dict(attrs, storage_order=storage_order), opset=12, n_outputs=2)


@pytest.mark.parametrize("xs,attrs", POOL_CASES)
@pytest.mark.parametrize("count_include_pad", [0, 1])
def test_average_pool_matches_onnxruntime(xs, attrs, count_include_pad):
    check("AveragePool", [randn(*xs)], dict(attrs, count_include_pad=count_include_pad), opset=19)


def test_average_pool_opset7_has_no_ceil_mode():
    k = kernel_for("AveragePool", 7)
    assert "ceil_mode" not in k.attribute_names and "count_include_pad" in k.attribute_names


@pytest.mark.parametrize("op", ["GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool"])
@pytest.mark.parametrize("xs", [(2, 3, 5, 4), (1, 4, 7), (1, 2, 3, 4, 5)])
def test_global_pools_match_onnxruntime(op, xs):
    check(op, [randn(*xs)], opset=17)


def test_lp_pool_matches_onnxruntime():
    check("LpPool", [randn(1, 2, 8, 8)], {"kernel_shape": [3, 3], "strides": [2, 2], "p": 3,
                                           "pads": [1, 1, 1, 1]}, opset=18)


# --------------------------------------------------------------------------- Gemm, MatMul


@pytest.mark.parametrize("ta,tb", [(0, 0), (1, 0), (0, 1), (1, 1)])
@pytest.mark.parametrize("cshape", [None, (5,), (1, 5), (4, 1), (4, 5), ()])
def test_gemm_matches_onnxruntime(ta, tb, cshape):
    a = randn(3, 4) if ta else randn(4, 3)
    b = randn(5, 3) if tb else randn(3, 5)
    c = None if cshape is None else randn(*cshape)
    check("Gemm", [a, b, c], {"transA": ta, "transB": tb, "alpha": 0.5, "beta": 2.0}, opset=13)


def test_gemm_opset6_accepts_broadcast_attribute():
    a, b, c = randn(2, 3), randn(3, 4), randn(4)
    y = run_kernel("Gemm", [a, b, c], {"broadcast": 1, "beta": 0.5}, opset=6)[0]
    np.testing.assert_allclose(y, a @ b + 0.5 * c, rtol=1e-5)


def test_gemm_inner_dim_mismatch_is_a_clear_error():
    with pytest.raises(ValueError, match="Gemm: cannot multiply shapes"):
        run_kernel("Gemm", [randn(2, 3), randn(4, 5)], opset=13)


@pytest.mark.parametrize("sa,sb", [((3, 4), (4, 5)), ((2, 3, 4), (4, 5)), ((2, 1, 3, 4), (5, 4, 2)),
                                   ((4,), (4, 3)), ((2, 3, 4), (4,)), ((4,), (4,))])
def test_matmul_matches_onnxruntime(sa, sb):
    check("MatMul", [randn(*sa), randn(*sb)], opset=13)


def test_matmul_mismatch_is_a_clear_error():
    with pytest.raises(ValueError, match=r"MatMul: cannot multiply shapes \(2, 3\) and \(4, 5\)"):
        run_kernel("MatMul", [randn(2, 3), randn(4, 5)])


# --------------------------------------------------------------------------- normalization


def test_batch_normalization_inference_matches_onnxruntime():
    x = randn(2, 3, 4, 5)
    params = [randn(3), randn(3), randn(3), np.abs(randn(3)) + 0.1]
    check("BatchNormalization", [x] + params, {"epsilon": 1e-3}, opset=15)
    check("BatchNormalization", [x] + params, {"epsilon": 1e-3}, opset=9)


def test_batch_normalization_training_mode_matches_onnxruntime():
    x = randn(4, 3, 5)
    params = [randn(3), randn(3), randn(3), np.abs(randn(3)) + 0.1]
    check("BatchNormalization", [x] + params, {"training_mode": 1, "momentum": 0.8}, opset=15, n_outputs=3)


def test_batch_normalization_opset6_is_test():
    x = randn(2, 3, 4)
    s, b, m, v = randn(3), randn(3), randn(3), np.abs(randn(3)) + 0.1
    y = run_kernel("BatchNormalization", [x, s, b, m, v], {"is_test": 1, "epsilon": 1e-5}, opset=6)[0]
    want = (x - m[:, None]) / np.sqrt(v[:, None] + 1e-5) * s[:, None] + b[:, None]
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-6)


def test_instance_normalization_matches_onnxruntime():
    check("InstanceNormalization", [randn(2, 3, 4, 5), randn(3), randn(3)], {"epsilon": 1e-4}, opset=6)


@pytest.mark.parametrize("size", [1, 3, 5])  # onnxruntime takes odd sizes only
def test_lrn_matches_onnxruntime(size):
    check("LRN", [randn(2, 7, 3, 3)], {"size": size, "alpha": 1e-3, "beta": 0.7, "bias": 2.0}, opset=13)


@pytest.mark.parametrize("axis", [-1, -2, 1])
def test_layer_normalization_matches_onnxruntime(axis):
    x = randn(2, 3, 4)
    shape = x.shape[axis:]
    check("LayerNormalization", [x, randn(*shape), randn(*shape)], {"axis": axis}, opset=17, n_outputs=3)


# --------------------------------------------------------------------------- softmax family


@pytest.mark.parametrize("op", ["Softmax", "LogSoftmax", "Hardmax"])
@pytest.mark.parametrize("opset,axis", [(11, None), (11, 0), (11, 2), (11, -1), (13, None), (13, 1), (13, -3)])
def test_softmax_family_matches_onnxruntime(op, opset, axis):
    attrs = {} if axis is None else {"axis": axis}
    check(op, [randn(2, 3, 4) * 10], attrs, opset=opset)


def test_softmax_is_stable_for_large_logits():
    y = run_kernel("Softmax", [np.array([[1000.0, 1000.0, -1000.0]], np.float32)], opset=13)[0]
    np.testing.assert_allclose(y, [[0.5, 0.5, 0.0]])


# --------------------------------------------------------------------------- reductions

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


# --------------------------------------------------------------------------- elementwise

UNARY = ["Abs", "Neg", "Exp", "Log", "Sqrt", "Floor", "Ceil", "Reciprocal", "Tanh", "Sigmoid", "Relu", "Sin",
         "Cos", "Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh", "Asinh", "Atanh", "Sign", "Erf", "Round",
         "Softplus", "Softsign", "HardSwish", "IsNaN", "Mish"]


@pytest.mark.parametrize("op", UNARY)
def test_unary_math_matches_onnxruntime(op):
    x = randn(3, 4) * 3
    if op in ("Log", "Sqrt"):
        x = np.abs(x) + 0.1
    if op in ("Asin", "Acos", "Atanh"):
        x = np.tanh(x) * 0.9
    check(op, [x], opset=18)


def test_acosh_matches_onnxruntime():
    check("Acosh", [np.abs(randn(5)) + 1.0], opset=18)


def test_sigmoid_has_no_overflow_for_large_inputs():
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        y = run_kernel("Sigmoid", [np.array([-1000.0, 0.0, 1000.0], np.float32)])[0]
    np.testing.assert_allclose(y, [0.0, 0.5, 1.0])


@pytest.mark.parametrize("op,attrs,opset", [
    ("Elu", {"alpha": 0.7}, 6), ("LeakyRelu", {"alpha": 0.2}, 16), ("Selu", {}, 6),
    ("Selu", {"alpha": 1.5, "gamma": 2.0}, 6), ("HardSigmoid", {"alpha": 0.3, "beta": 0.4}, 6),
    ("ThresholdedRelu", {"alpha": 0.5}, 10), ("Celu", {"alpha": 1.3}, 12), ("Shrink", {"lambd": 0.7, "bias": 0.2}, 9),
    ("Gelu", {}, 20), ("Gelu", {"approximate": "tanh"}, 20), ("IsInf", {"detect_negative": 0}, 10),
])
def test_activations_match_onnxruntime(op, attrs, opset):
    x = randn(3, 5) * 2
    if op == "IsInf":
        x[0, :2] = [np.inf, -np.inf]
    check(op, [x], attrs, opset=opset)


@pytest.mark.parametrize("slope_shape", [(1,), (5,), (3, 1, 1), ()])
def test_prelu_matches_onnxruntime(slope_shape):
    x = randn(2, 3, 4, 5)
    slope = randn(*slope_shape) if slope_shape != (5,) else randn(5)
    check("PRelu", [x, slope], opset=16)


def test_prelu_before_opset7_applies_a_1d_slope_per_channel():
    x, s = randn(2, 3, 4), randn(3)
    y = run_kernel("PRelu", [x, s], opset=6)[0]
    np.testing.assert_allclose(y, np.where(x < 0, x * s[:, None], x))


@pytest.mark.parametrize("op", ["Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sum", "Mean"])
@pytest.mark.parametrize("sa,sb", [((3, 4), (3, 4)), ((2, 3, 4), (4,)), ((3, 1), (1, 4)), ((), (2, 2))])
def test_binary_broadcasting_matches_onnxruntime(op, sa, sb):
    a, b = randn(*sa), randn(*sb)
    if op == "Pow":
        a = np.asarray(np.abs(a) + 0.5, np.float32)
    if op == "Div":
        b = np.asarray(np.where(np.abs(b) < 0.1, 1.0, b), np.float32)
    check(op, [a, b], opset=14)


def test_binary_kernels_return_arrays_for_0d_inputs():
    a, b = np.array(2.0, np.float32), np.array(3.0, np.float32)
    for op in ("Add", "Sub", "Mul", "Div", "Pow", "Relu", "Abs", "Equal"):
        ins = [a] if op in ("Relu", "Abs") else [a, b]
        out = run_kernel(op, ins, opset=14)[0]
        assert type(out) is np.ndarray and out.shape == ()


@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_integer_division_truncates_toward_zero(dtype):
    a = np.array([7, -7, 7, -7, 6], dtype)
    b = np.array([2, 2, -2, -2, 3], dtype)
    check("Div", [a, b], opset=14)


def test_pow_with_integer_exponent_keeps_base_dtype():
    check("Pow", [np.abs(randn(3, 4)) + 0.1, np.array([2, 3, 1, 0], np.int64)], opset=15)


def test_variadic_sum_max_min_of_three():
    xs = [randn(3, 1), randn(1, 4), randn(4)]
    for op in ("Sum", "Max", "Min", "Mean"):
        check(op, xs, opset=13)


@pytest.mark.parametrize("opset", [6, 1])
def test_legacy_broadcast_with_axis(opset):
    a, b = randn(2, 3, 4, 5), randn(3, 4)
    for op, fn in (("Add", np.add), ("Mul", np.multiply), ("Sub", np.subtract)):
        y = run_kernel(op, [a, b], {"broadcast": 1, "axis": 1}, opset=opset)[0]
        np.testing.assert_allclose(y, fn(a, b[None, :, :, None]))


def test_legacy_no_broadcast_requires_equal_shapes():
    with pytest.raises(ValueError, match="broadcast=0"):
        run_kernel("Add", [randn(2, 3), randn(3)], opset=6)


@pytest.mark.parametrize("op", ["Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual"])
def test_comparisons_match_onnxruntime(op):
    a = rng.integers(0, 3, (3, 4)).astype(np.float32)
    b = rng.integers(0, 3, (4,)).astype(np.float32)
    check(op, [a, b], opset=19 if op == "Equal" else 16)


@pytest.mark.parametrize("op", ["And", "Or", "Xor"])
def test_logical_ops_match_onnxruntime(op):
    a, b = rng.random((3, 4)) > 0.5, rng.random((4,)) > 0.5
    check(op, [a, b], opset=7)
    check("Not", [a], opset=1)


def test_where_matches_onnxruntime():
    check("Where", [rng.random((3, 1)) > 0.5, randn(1, 4), randn(3, 4)], opset=16)


@pytest.mark.parametrize("lo,hi", [(-0.5, 0.5), (None, 0.2), (-0.1, None), (None, None), (0.5, -0.5)])
def test_clip_matches_onnxruntime(lo, hi):
    x = randn(3, 4)
    ins = [x, None if lo is None else np.array(lo, np.float32), None if hi is None else np.array(hi, np.float32)]
    check("Clip", ins, opset=13)
    if lo is None or hi is None or lo <= hi:  # onnxruntime's Clip-6 refuses min > max
        attrs = {k: v for k, v in (("min", lo), ("max", hi)) if v is not None}
        check("Clip", [x], attrs, opset=6)


# --------------------------------------------------------------------------- tensor and shape ops


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


# --------------------------------------------------------------------------- sequences and strings


def test_sequence_ops():
    a, b, c = randn(2, 3), randn(1, 3), randn(4, 3)
    seq = run_kernel("SequenceConstruct", [a, b])[0]
    assert isinstance(seq, list) and len(seq) == 2
    seq2 = run_kernel("SequenceInsert", [seq, c, np.array(1, np.int64)])[0]
    assert [t.shape[0] for t in seq2] == [2, 4, 1] and len(seq) == 2  # the input is not changed
    assert run_kernel("SequenceAt", [seq2, np.array(-1, np.int64)])[0] is b
    assert int(run_kernel("SequenceLength", [seq2])[0]) == 3
    seq3 = run_kernel("SequenceErase", [seq2])[0]
    assert [t.shape[0] for t in seq3] == [2, 4]
    cat = run_kernel("ConcatFromSequence", [seq2], {"axis": 0})[0]
    np.testing.assert_array_equal(cat, np.concatenate([a, c, b]))
    stacked = run_kernel("ConcatFromSequence", [[a, a]], {"axis": -1, "new_axis": 1})[0]
    assert stacked.shape == (2, 3, 2)
    assert run_kernel("SequenceEmpty", [], {"dtype": TensorProto.FLOAT})[0] == []


def test_sequence_at_out_of_range_is_a_clear_error():
    with pytest.raises(ValueError, match="SequenceAt: position 2 is out of range"):
        run_kernel("SequenceAt", [[randn(1), randn(1)], np.array(2, np.int64)])


@pytest.mark.parametrize("split,keepdims,sizes", [(None, 1, [1] * 5), (None, 0, [1] * 5),
                                                  (np.array(2, np.int64), 1, [2, 2, 1]),
                                                  (np.array([1, 4], np.int64), 1, [1, 4])])
def test_split_to_sequence(split, keepdims, sizes):
    x = randn(3, 5)
    parts = run_kernel("SplitToSequence", [x, split], {"axis": 1, "keepdims": keepdims})[0]
    assert [p.shape[1] if p.ndim == 2 else 1 for p in parts] == sizes
    if not keepdims:
        assert parts[0].shape == (3,)
    np.testing.assert_array_equal(np.concatenate([p.reshape(3, -1) for p in parts], axis=1), x)


@pytest.mark.parametrize("attrs", [
    {"case_change_action": "LOWER", "stopwords": ["monday"], "is_case_sensitive": 1},
    {"case_change_action": "UPPER", "stopwords": ["MONDAY"]},
    {"case_change_action": "NONE"},
    {"stopwords": ["monday", "Tuesday"], "is_case_sensitive": 0},
])
def test_string_normalizer_matches_onnxruntime(attrs):
    x = np.array(["Monday", "tuesday", "WEDNESDAY", "monday"], dtype=object)
    attrs = dict(attrs, locale="C")  # onnxruntime needs an installed locale for its case folding
    check("StringNormalizer", [x], attrs, opset=10)
    check("StringNormalizer", [x.reshape(1, -1)], attrs, opset=10)


def test_string_normalizer_all_removed_gives_one_empty_string():
    x = np.array(["monday", "monday"], dtype=object)
    check("StringNormalizer", [x], {"stopwords": ["monday"], "locale": "C"}, opset=10)


@pytest.mark.parametrize("fmod,dtype", [(0, np.int64), (1, np.int32), (1, np.float32), (0, np.float32)])
def test_mod_follows_the_divisor_or_dividend_sign(fmod, dtype):
    a = np.array([7, -7, 7, -7, 5], dtype)
    b = np.array([3, 3, -3, -3, 5], dtype)
    want = np.fmod(a, b) if fmod else np.mod(a, b)
    np.testing.assert_array_equal(run_kernel("Mod", [a, b], {"fmod": fmod}, opset=13)[0], want)


def test_dropout_with_seed_is_reproducible():
    x = randn(10, 10)
    args = ([x, np.array(0.5, np.float32), np.array(True)], {"seed": 3})
    a = run_kernel("Dropout", *args, opset=13, n_outputs=2)
    b = run_kernel("Dropout", *args, opset=13, n_outputs=2)
    np.testing.assert_array_equal(a[1], b[1])


def test_activations_keep_bfloat16():
    ml_dtypes = pytest.importorskip("ml_dtypes")
    x = randn(4).astype(ml_dtypes.bfloat16)
    for op, attrs in (("Celu", {}), ("Elu", {}), ("Sigmoid", {}), ("Softplus", {}), ("LeakyRelu", {})):
        assert run_kernel(op, [x], attrs, opset=18)[0].dtype == x.dtype, op
