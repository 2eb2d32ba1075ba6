"""A model file is untrusted: the embedded C provider (per node and fused) and `export-c` never size a
buffer from a declared shape the ops do not imply, refuse attributes the kernels cannot take
(strides 0, 1-element BatchNormalization parameters...), check at run time that inputs have the
shapes they were compiled for, and report a C-side error naming node and op. Runs that could crash
(a regression would segfault or abort) happen in a subprocess, so they cannot take pytest down."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from ep_runtime import InferenceSession
from ep_runtime.graph import Graph
from providers.embedded_c import EmbeddedCExecutionProvider
from providers.embedded_c.export import _check as _export_check
from providers.embedded_c.lowering import lower
from tests.embedded_c_helpers import single_node_model, strict_session

pytestmark = pytest.mark.skipif(not EmbeddedCExecutionProvider.is_available(), reason="no C compiler")

ROOT = Path(__file__).resolve().parent.parent
MODES = ("per_node", "fused")


def _vi(name: str, shape) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def _model(nodes, inputs, outputs, inits=(), value_info=(), opset: int = 17) -> onnx.ModelProto:
    g = helper.make_graph(nodes, "g", inputs, outputs, [numpy_helper.from_array(a, n) for n, a in inits],
                          value_info=list(value_info))
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


# ---------------------------------------------------------------------------------------- adversarial models


def relu_lie() -> tuple[onnx.ModelProto, dict]:
    """An intermediate declared as 16384 floats, fed by 4."""
    nodes = [helper.make_node("Relu", ["x"], ["h"], name="r1"), helper.make_node("Relu", ["h"], ["y"], name="r2")]
    return (_model(nodes, [_vi("x", [4])], [_vi("y", None)], value_info=[_vi("h", [16384])]),
            {"x": np.ones(4, np.float32)})


def reshape_lie() -> tuple[onnx.ModelProto, dict]:
    """A Reshape whose declared output is bigger than what its shape input gives."""
    nodes = [helper.make_node("Reshape", ["x", "s"], ["h"], name="rs"),
             helper.make_node("Relu", ["h"], ["y"], name="r2")]
    return (_model(nodes, [_vi("x", [2, 2])], [_vi("y", None)], [("s", np.array([4], np.int64))],
                   value_info=[_vi("h", [4096])]), {"x": np.ones((2, 2), np.float32)})


def batchnorm_one_element_params() -> tuple[onnx.ModelProto, dict]:
    """BatchNormalization with scale/bias/mean/var of length 1 while C is 3."""
    inits = [(n, np.ones(1, np.float32)) for n in ("s", "b", "m", "v")]
    nodes = [helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"], name="bn")]
    return (_model(nodes, [_vi("x", [1, 3, 2, 2])], [_vi("y", [1, 3, 2, 2])], inits),
            {"x": np.ones((1, 3, 2, 2), np.float32)})


def conv_strides_zero() -> tuple[onnx.ModelProto, dict]:
    nodes = [helper.make_node("Conv", ["x", "w"], ["y"], name="cv", strides=[0, 0])]
    return (_model(nodes, [_vi("x", [1, 1, 4, 4])], [_vi("y", [1, 1, 3, 3])],
                   [("w", np.ones((1, 1, 2, 2), np.float32))]), {"x": np.ones((1, 1, 4, 4), np.float32)})


def runtime_reshape_lies() -> tuple[onnx.ModelProto, dict]:
    """A Reshape whose shape arrives at run time (so shape inference cannot check it, and the cpu
    provider runs it) declares 16384 floats and produces 4 for a C node."""
    nodes = [helper.make_node("Reshape", ["x", "s"], ["h"], name="rs"),
             helper.make_node("Relu", ["h"], ["y"], name="r2")]
    s_info = helper.make_tensor_value_info("s", TensorProto.INT64, [1])
    return (_model(nodes, [_vi("x", [4]), s_info], [_vi("y", None)], value_info=[_vi("h", [16384])]),
            {"x": np.ones(4, np.float32), "s": np.array([4], np.int64)})


BUILDERS = {f.__name__: f for f in (relu_lie, reshape_lie, batchnorm_one_element_params, conv_strides_zero,
                                    runtime_reshape_lies)}


def probe(name: str, out_dir: str) -> None:
    """Run model `name` every way (in a subprocess); print one JSON line of outcomes."""
    from providers.embedded_c.export import build_folder, export_model, run_folder

    model, feed = BUILDERS[name]()
    results = {}

    def outcome(fn):
        try:
            value = fn()
            return {"ok": True, "value": value}
        except Exception as exc:  # the type and message are what the tests check
            return {"ok": False, "type": type(exc).__name__, "bases": [c.__name__ for c in type(exc).__mro__],
                    "message": str(exc)}

    for mode in MODES:
        opts = {"fused": mode == "fused"}
        results[f"{mode}_strict"] = outcome(lambda o=opts: strict_session(model, **o).run(None, feed)[0].shape)
        results[f"{mode}_cpu"] = outcome(
            lambda o=opts: InferenceSession(model, providers=[("embedded_c", o), "cpu"]).run(None, feed)[0].shape)

    def export():
        res = export_model(model, out_dir)
        exe = build_folder(res.outdir)
        return run_folder(exe, list(feed.values()), [s for _, s in res.outputs])[0].shape

    results["export"] = outcome(export)
    print(json.dumps(results, default=list))


def _run_probe(name: str, tmp_path) -> dict:
    code = f"import sys; sys.path.insert(0, {str(ROOT)!r}); from tests.test_embedded_c_safety import probe; " \
           f"probe({name!r}, {str(tmp_path / 'export')!r})"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, f"the process died (exit {proc.returncode}):\n{proc.stderr[-3000:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _assert_error(result: dict, types: tuple[str, ...], *words: str) -> None:
    assert not result["ok"], f"expected an error, got a result: {result}"
    assert "EPRuntimeError" in result["bases"], result
    assert result["type"] in types, result
    for w in words:
        assert w in result["message"], (w, result["message"])


# ---------------------------------------------------------------------------------------- lying value_info

#: what a user may see for a model whose shapes or attributes do not check: the core's load-time
#: shape inference (InvalidGraphError), a refusal with no fallback, a KernelError or an ExportError;
#: never a crash, never a result
CLEAR = ("InvalidGraphError", "NotImplementedByAnyProvider", "KernelError", "ExportError")


def _raw_graph(model: onnx.ModelProto) -> Graph:
    """The model's graph exactly as declared: no shape inference, so its value_info may lie."""
    return Graph(model.graph, {"": model.opset_import[0].version})


def _lower(model: onnx.ModelProto, index: int = 0):
    graph = _raw_graph(model)
    return lower(graph.nodes[index], graph)


@pytest.mark.parametrize("builder,node,value", [("relu_lie", "'r1'", "'h'"), ("reshape_lie", "'rs'", "'h'")])
def test_declared_shape_the_op_does_not_give_is_refused_naming_node_and_value(builder, node, value):
    model, _ = BUILDERS[builder]()
    refusal = _lower(model)
    assert refusal.kind == "dynamic_shape" and value in refusal.reason, refusal
    assert "[16384]" in refusal.reason or "[4096]" in refusal.reason, refusal
    _, problems, _ = _export_check(_raw_graph(model))
    assert any(node in p and value in p and "declared shape" in p for p in problems), problems


# the lying models' errors name the value whose declared shape lies ('h'); the node named depends on where
# the lie is caught (its producer at claim or export time, its consumer when a C node receives it)
@pytest.mark.parametrize("builder,node", [("relu_lie", "'h'"), ("reshape_lie", "'h'"),
                                          ("batchnorm_one_element_params", "bn"), ("conv_strides_zero", "cv")])
def test_lying_models_end_in_a_clear_error_never_a_crash_or_heap_memory(builder, node, tmp_path):
    res = _run_probe(builder, tmp_path)
    for result in res.values():
        _assert_error(result, CLEAR, node)


def test_input_shape_unlike_the_compiled_one_is_a_clear_error(tmp_path):
    res = _run_probe("runtime_reshape_lies", tmp_path)
    for mode in MODES:
        _assert_error(res[f"{mode}_cpu"], ("KernelError",), "'r2' (Relu)", "'h'", "[4]", "[16384]")


def test_batchnorm_with_one_element_parameters_is_refused_not_read_out_of_bounds():
    model, _ = batchnorm_one_element_params()
    refusal = _lower(model)
    assert refusal.kind == "dynamic_shape" and "'s'" in refusal.reason and "[3]" in refusal.reason, refusal


def test_conv_strides_zero_is_refused_as_attribute_not_a_crash():
    model, _ = conv_strides_zero()
    refusal = _lower(model)
    assert str(refusal) == "attribute: Conv strides=[0, 0] must be >= 1", refusal


# ---------------------------------------------------------------------------------------- attributes and shapes


X4 = {"x": (1, 2, 5, 5)}
W = {"w": np.ones((2, 2, 3, 3), np.float32)}
REFUSED = {
    "conv_dilations_0": (("Conv", X4, (1, 2, 3, 3), W), {"dilations": [0, 1]}, "attribute", "dilations"),
    "conv_negative_pad": (("Conv", X4, (1, 2, 3, 3), W), {"pads": [-1, 0, 0, 0]}, "attribute", "pads"),
    "conv_group_0": (("Conv", X4, (1, 2, 3, 3), W), {"group": 0}, "attribute", "group"),
    "conv_kernel_shape": (("Conv", X4, (1, 2, 3, 3), W), {"kernel_shape": [2, 2]}, "attribute", "kernel_shape"),
    "conv_short_bias": (("Conv", X4, (1, 2, 3, 3), {**W, "b": np.ones(1, np.float32)}), {}, "dynamic_shape",
                        "bias"),
    "maxpool_kernel_0": (("MaxPool", X4, (1, 2, 5, 5), {}), {"kernel_shape": [0, 1]}, "attribute", "kernel_shape"),
    "avgpool_strides_0": (("AveragePool", X4, (1, 2, 4, 4), {}), {"kernel_shape": [2, 2], "strides": [0, 1]},
                          "attribute", "strides"),
    "lrn_size_0": (("LRN", X4, (1, 2, 5, 5), {}), {"size": 0}, "attribute", "size"),
    "softmax_axis": (("Softmax", X4, (1, 2, 5, 5), {}), {"axis": 4}, "attribute", "axis"),
    "transpose_repeated_axis": (("Transpose", X4, (1, 1, 5, 5), {}), {"perm": [0, 0, 2, 3]}, "attribute",
                                "perm"),
    "gemm_inner_dim": (("Gemm", {"a": (3, 4)}, (3, 2), {"b": np.ones((5, 2), np.float32)}), {}, "dynamic_shape",
                       "inner"),
    "concat_axis": (("Concat", {"a": (2, 3), "b": (2, 3)}, (4, 3), {}), {"axis": 2}, "attribute", "axis"),
    "reshape_not_constant": (("Reshape", {"x": (2, 2), "s": (1,)}, (4,), {}), {}, "dynamic_shape", "constant"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_bad_attributes_and_disagreeing_inputs_are_refused_with_a_reason(case):
    (op, inputs, out_shape, consts), attrs, kind, word = REFUSED[case]
    model = single_node_model(op, inputs, out_shape, consts=consts, **attrs)
    if case == "reshape_not_constant":  # the shape input is a graph input (int64), not a constant
        model.graph.input[1].type.tensor_type.elem_type = TensorProto.INT64
    refusal = _lower(model)
    assert getattr(refusal, "kind", None) == kind, refusal
    assert word in refusal.reason, refusal


def test_honest_declared_shapes_are_claimed():
    model = single_node_model("Conv", X4, (1, 2, 3, 3), consts=W)
    assert not hasattr(_lower(model), "kind")


# ---------------------------------------------------------------------------------------- C-side errors


def test_c_kernel_error_names_node_op_and_code(tmp_path):
    """A kernel returning an error code (here a vendor Relu refusing everything) reaches the user as a
    KernelError naming node, op, the C function and what the code means, per node and fused."""
    src = tmp_path / "relu_refuses.c"
    src.write_text('#include "relu.h"\n\nint ep_relu(const ep_tensor *x, ep_tensor *y)\n{\n'
                   "    (void)x;\n    (void)y;\n    return EP_ERR_ARG;\n}\n")
    model = _model([helper.make_node("Relu", ["x"], ["y"], name="act")], [_vi("x", [3])], [_vi("y", [3])])
    for fused in (False, True):
        sess = strict_session(model, fused=fused, kernels={"Relu": str(src)})
        with pytest.raises(Exception) as info:
            sess.run(None, {"x": np.ones(3, np.float32)})
        err = info.value
        assert type(err).__name__ == "KernelError", err
        assert err.op_type == "Relu" and "'act'" in err.node, (err.node, err.op_type)
        for word in ("'act' (Relu)", "ep_relu", "EP_ERR_ARG", "EmbeddedCExecutionProvider"):
            assert word in str(err), str(err)
    # the exported program says which node failed and what the code means
    from providers.embedded_c.export import ExportError, build_folder, export_model, run_folder

    res = export_model(model, tmp_path / "out", kernels={"Relu": str(src)})
    with pytest.raises(ExportError, match=r"failed at node 0 .*EP_ERR_ARG"):
        run_folder(build_folder(res.outdir), [np.ones(3, np.float32)], [(3,)])


# ---------------------------------------------------------------------------------------- NaN and empty tensors


NAN_INPUT = np.array([[np.nan, -1.0, 0.0, 2.0], [-np.inf, np.inf, np.nan, -0.5]], np.float32)
NAN_CASES = {
    "relu": ("Relu", {}, {}),
    "leaky_relu": ("LeakyRelu", {}, {"alpha": 0.1}),
    "sigmoid": ("Sigmoid", {}, {}),
    "tanh": ("Tanh", {}, {}),
    "clip": ("Clip", {"lo": np.float32(-0.5), "hi": np.float32(0.5)}, {}),
    "softmax": ("Softmax", {}, {"axis": 1}),
}


@pytest.mark.parametrize("fused", [False, True], ids=["per_node", "fused"])
@pytest.mark.parametrize("case", sorted(NAN_CASES))
def test_nan_propagates_like_the_cpu_provider(case, fused):
    op, consts, attrs = NAN_CASES[case]
    model = single_node_model(op, {"x": NAN_INPUT.shape}, NAN_INPUT.shape, consts=consts, **attrs)
    want = InferenceSession(model, providers=["cpu"]).run(None, {"x": NAN_INPUT})[0]
    got = strict_session(model, fused=fused).run(None, {"x": NAN_INPUT})[0]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, equal_nan=True)
    assert np.array_equal(np.isnan(got), np.isnan(want)), (got, want)


@pytest.mark.parametrize("shape,axis", [((2, 0), -1), ((0, 3), 0), ((3, 0, 2), 1)])
def test_softmax_over_an_empty_axis_returns_the_empty_result(shape, axis, tmp_path):
    from providers.embedded_c.export import build_folder, export_model, run_folder

    model = single_node_model("Softmax", {"x": shape}, shape, axis=axis)
    x = np.zeros(shape, np.float32)
    for fused in (False, True):
        assert strict_session(model, fused=fused).run(None, {"x": x})[0].shape == shape
    res = export_model(model, tmp_path / "sm")
    assert run_folder(build_folder(res.outdir), [x], [shape])[0].shape == shape


@pytest.mark.parametrize("op", ["Div", "Mod"])
def test_integer_div_and_mod_never_reach_the_float_only_c_kernels(op):
    """The C library is float32 only: integer Div/Mod (whose division by zero must be an error) is
    refused as dtype, so the provider that runs it owns that error."""
    model = single_node_model(op, {"a": (3,), "b": (3,)}, (3,))
    for vi in list(model.graph.input) + list(model.graph.output):
        vi.type.tensor_type.elem_type = TensorProto.INT32
    refusal = _lower(model)
    assert getattr(refusal, "kind", None) in ("dtype", "op"), refusal


def test_gate_fails_a_vendor_relu_that_turns_nan_into_zero(tmp_path):
    from providers.embedded_c.gate import check_kernel

    src = tmp_path / "relu_nan_zero.c"
    src.write_text('#include "relu.h"\n\nint ep_relu(const ep_tensor *x, ep_tensor *y)\n{\n'
                   "    const float *px = (const float *)x->data;\n    float *py = (float *)y->data;\n"
                   "    int64_t i, n = ep_numel(x);\n    for (i = 0; i < n; ++i) {\n"
                   "        py[i] = px[i] > 0.0f ? px[i] : 0.0f;\n    }\n    return EP_OK;\n}\n")
    report = check_kernel("Relu", src)
    assert not report.passed, report.report()
