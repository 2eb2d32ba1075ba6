"""The CPU provider's registry and kernel contract: identity, plugin module, a kernel for every version of every
op in scope, kernel attributes against each version's schema, version dispatch."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from ep_runtime.graph import attr_param_name
from ep_runtime.provider import IGNORED_ATTRIBUTES
from providers.cpu import REGISTRY, CPUExecutionProvider
from tests.helpers.kernels import kernel_for

ort = pytest.importorskip("onnxruntime")

rng = np.random.default_rng(1234)


def randn(*shape, dtype=np.float32):
    return rng.standard_normal(shape).astype(dtype)


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
    """A kernel declares exactly the attributes of the schema versions it covers (no more, no fewer),
    but for those the registry accepts and drops for every kernel (IGNORED_ATTRIBUTES)."""
    for v in _schema_versions(op):
        covering = [k for k in REGISTRY.versions(op) if k.covers(v)]
        if not covering:
            continue
        k = covering[-1]
        schema = {attr_param_name(a) for a in onnx.defs.get_schema(op, v).attributes} - IGNORED_ATTRIBUTES
        assert schema == set(k.attribute_names) - IGNORED_ATTRIBUTES, (op, v, k.version_range)


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
    ("BatchNormalization", 6, "BatchNormalization_1"), ("BatchNormalization", 9, "BatchNormalization_1"),
    ("BatchNormalization", 15, "BatchNormalization"),
    ("MaxPool", 7, "MaxPool_1"), ("MaxPool", 8, "MaxPool_8"), ("MaxPool", 12, "MaxPool"),
])
def test_version_dispatch_picks_the_kernel_for_the_model_opset(op, opset, name):
    assert kernel_for(op, opset).fn.__name__ == name


def _default_fn(op: str, opset: int, domain: str = ""):
    """The numpy (default-implementation) function behind the kernel of `op` at `opset`."""
    k = kernel_for(op, opset, domain)
    while k.impl != "default":
        k = k.fallback
    return k.fn


@pytest.mark.parametrize("op,opsets", [
    ("Relu", (1, 6)), ("Sigmoid", (1, 6)), ("Abs", (1, 6)), ("Elu", (1, 6)), ("LeakyRelu", (1, 6)),
    ("Selu", (1, 6)), ("HardSigmoid", (1, 6)), ("PRelu", (1, 6)), ("Clip", (1, 6)), ("Add", (1, 6)),
    ("Sum", (1, 6)), ("Mean", (1, 6)), ("Dropout", (1, 6)), ("InstanceNormalization", (1, 6)),
    ("BatchNormalization", (1, 6, 7, 9)), ("ArgMax", (11, 12)), ("ArgMin", (11, 12)),
])
def test_versions_that_differ_only_in_attributes_run_one_function(op, opsets):
    assert len({_default_fn(op, v) for v in opsets}) == 1, [_default_fn(op, v).__name__ for v in opsets]


@pytest.mark.parametrize("op", ["TreeEnsembleRegressor", "TreeEnsembleClassifier"])
def test_tree_ensembles_of_ml_1_and_3_run_one_function_with_their_own_attributes(op):
    old, new = kernel_for(op, 1, "ai.onnx.ml"), kernel_for(op, 3, "ai.onnx.ml")
    assert old.fn is new.fn
    assert "nodes_values_as_tensor" in new.attribute_names and "nodes_values_as_tensor" not in old.attribute_names


def test_argmax_before_12_declares_its_attributes_and_runs_with_their_defaults():
    import ep_runtime as ep
    from tests.helpers.models import F, make_model

    k = kernel_for("ArgMax", 11)
    assert dict(k.attributes) == {"axis": 0, "keepdims": 1}  # no select_last_index before 12
    model = make_model([onnx.helper.make_node("ArgMax", ["x"], ["y"], axis=1)], [("x", F, [2, 3])],
                       [("y", onnx.TensorProto.INT64, None)], opset=11)
    x = np.array([[1, 3, 3], [2, 2, 0]], np.float32)
    y = ep.InferenceSession(model.SerializeToString(), providers=["cpu"]).run(None, {"x": x})[0]
    np.testing.assert_array_equal(y, [[1], [0]])  # keepdims defaults to 1, the first maximum wins
