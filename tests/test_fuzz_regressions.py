"""One regression test per class of failure the model fuzzer (tools/fuzz_models.py) found: crashes,
raw errors from deep inside, and invalid models that ran although onnxruntime refuses them.
Each model is built here with onnx.helper (nothing is read from notes/)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import ep_runtime as ep
from tests.helpers.models import I64, F, const, make_model
from tests.opencl_support import needs_opencl


def _slice_model(declared_dim: int) -> onnx.ModelProto:
    """Reshape -> Slice, the Reshape's output declared with `declared_dim` as its first dim."""
    nodes = [helper.make_node("Reshape", ["x", "shape"], ["rs"], name="rs"),
             helper.make_node("Slice", ["rs", "starts", "ends"], ["y"], name="slice")]
    inits = [const("shape", np.array([6, 4], np.int64)), const("starts", np.array([1, 1], np.int64)),
             const("ends", np.array([5, 3], np.int64))]
    model = make_model(nodes, [("x", F, [2, 3, 4])], [("y", F, None)], inits)
    model.graph.value_info.append(helper.make_tensor_value_info("rs", F, [declared_dim, 4]))
    return model


def _session(model: onnx.ModelProto, providers=("cpu",), **options) -> ep.InferenceSession:
    """A session on exactly `providers` (no CPU fallback), with these SessionOptions fields set."""
    opts = ep.SessionOptions()
    opts.add_session_config_entry("session.disable_cpu_ep_fallback", "1")
    for key, value in options.items():
        setattr(opts, key, value)
    return ep.InferenceSession(model.SerializeToString(), opts, providers=list(providers))


# --------------------------------------------------------------------------- crashes

def test_a_declared_dim_of_minus_one_is_dynamic_and_does_not_abort_shape_inference():
    # onnx's C++ Slice inference asserted (SIGABRT, the whole process) on a declared dim of -1
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    for dim in (-1, -2, -(2**63)):
        (y,) = _session(_slice_model(dim)).run(None, {"x": x})
        np.testing.assert_array_equal(y, x.reshape(6, 4)[1:5, 1:3])


def test_a_graph_input_declared_minus_one_still_accepts_any_size():
    model = make_model([helper.make_node("Relu", ["x"], ["y"])], [("x", F, [-1, 3])], [("y", F, [-1, 3])])
    (y,) = _session(model).run(None, {"x": -np.ones((5, 3), np.float32)})
    assert y.shape == (5, 3)


def test_the_callers_model_proto_keeps_its_minus_one_dims():
    model = _slice_model(-1)
    _session(model)
    assert model.graph.value_info[0].type.tensor_type.shape.dim[0].dim_value == -1


@needs_opencl
def test_opencl_concat_of_mismatched_shapes_is_a_kernel_error_not_a_segfault():
    # OpenCL's Concat sized its output from input 0 only and wrote input 1 past the buffer's end
    node = helper.make_node("Concat", ["a", "b"], ["y"], name="cat", axis=0)
    model = make_model([node], [("a", F, None), ("b", F, None)], [("y", F, None)])
    with pytest.raises(ep.KernelError, match=r"'cat' \(Concat\).*does not match"):
        _session(model, ("opencl",)).run(None, {"a": np.ones((4, 0), np.float32), "b": np.ones((3, 2), np.float32)})


@needs_opencl
def test_opencl_slice_clamps_huge_starts_and_walks_negative_steps_like_the_cpu():
    x = np.arange(48, dtype=np.float32).reshape(6, 8)
    cases = [([1, 2**62], [5, 4], [0, 1], [1, 2]), ([5, -1], [-2**63, 0], [0, 1], [-2, -3]),
             ([0, 7], [6, -100], [1, 1], [1, 1])]
    for starts, ends, axes, steps in cases:
        node = helper.make_node("Slice", ["x", "s", "e", "a", "t"], ["y"], name="slice")
        inits = [const("s", np.array(starts, np.int64)), const("e", np.array(ends, np.int64)),
                 const("a", np.array(axes, np.int64)), const("t", np.array(steps, np.int64))]
        model = make_model([node], [("x", F, [6, 8])], [("y", F, None)], inits)
        if len(set(axes)) < len(axes):
            with pytest.raises(ep.EPRuntimeError):
                _session(model, ("opencl",)).run(None, {"x": x})
            continue
        (want,) = _session(model).run(None, {"x": x})
        (got,) = _session(model, ("opencl",)).run(None, {"x": x})
        np.testing.assert_array_equal(got, want)


# --------------------------------------------------------------------------- unclear errors

def test_a_node_field_that_is_not_utf8_is_a_load_error():
    model = make_model([helper.make_node("Relu", ["x"], ["y"], name="r")], [("x", F, [4])], [("y", F, [4])])
    data = model.SerializeToString().replace(b"Relu", b"R\xdalu")
    with pytest.raises(ep.ModelLoadError, match=r"op_type is not valid UTF-8"):
        ep.InferenceSession(data, providers=["cpu"])


def _conv_bn(conv_bias: int) -> onnx.ModelProto:
    rng = np.random.default_rng(0)
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv", kernel_shape=[1, 1]),
             helper.make_node("BatchNormalization", ["c", "s", "bb", "m", "v"], ["y"], name="bn")]
    inits = [const("w", rng.standard_normal((4, 2, 1, 1)).astype(np.float32)),
             const("b", np.zeros(conv_bias, np.float32))]
    inits += [const(n, np.ones(4, np.float32)) for n in ("s", "bb", "m", "v")]
    return make_model(nodes, [("x", F, [1, 2, 3, 3])], [("y", F, None)], inits)


def test_conv_batchnorm_folding_skips_parameters_of_the_wrong_size():
    # the fold multiplied (8,) by (4,) and leaked a raw numpy ValueError
    x = np.ones((1, 2, 3, 3), np.float32)
    np.testing.assert_allclose(_session(_conv_bn(4)).run(None, {"x": x})[0],
                               _session(_conv_bn(4), graph_optimization_level=ep.GraphOptimizationLevel.ORT_DISABLE_ALL)
                               .run(None, {"x": x})[0], rtol=1e-5, atol=1e-6)
    with pytest.raises(ep.EPRuntimeError, match=r"conv"):
        _session(_conv_bn(8)).run(None, {"x": x})


def test_a_kernel_error_carries_the_op_type():
    model = make_model([helper.make_node("Concat", ["a", "b"], ["y"], name="cat", axis=0)],
                       [("a", F, None), ("b", F, None)], [("y", F, None)])
    with pytest.raises(ep.KernelError) as info:
        _session(model).run(None, {"a": np.ones((4, 1), np.float32), "b": np.ones((3, 2), np.float32)})
    assert (info.value.op_type, info.value.node) == ("Concat", "'cat' (Concat)")


# --------------------------------------------------------------------------- invalid models accepted

def _relu_with(*attrs: onnx.AttributeProto, op: str = "Relu") -> onnx.ModelProto:
    node = helper.make_node(op, ["x"], ["y"], name="n")
    node.attribute.extend(attrs)
    return make_model([node], [("x", F, [1, 1, 4, 4])], [("y", F, None)])


@pytest.mark.parametrize(("model", "message"), [
    (_relu_with(helper.make_attribute("fuzz_unknown", 1)), r"'n' \(Relu\).*attribute 'fuzz_unknown', which Relu-14 "
                                                           r"does not define"),
    (_relu_with(helper.make_attribute("epsilon", "x"), op="BatchNormalization"),
     r"'n' \(BatchNormalization\).*attribute 'epsilon' is of type STRING; BatchNormalization-15 declares it FLOAT"),
    (_relu_with(helper.make_attribute("alpha", 2), op="LeakyRelu"),
     r"'n' \(LeakyRelu\).*attribute 'alpha' is of type INT; LeakyRelu-16 declares it FLOAT"),
    (_relu_with(helper.make_attribute("kernel_shape", [2, 2]), helper.make_attribute("storage_order", -1),
                op="MaxPool"), r"attribute 'storage_order' = -1; MaxPool-12 accepts 0 or 1"),
    (_relu_with(op="MaxPool"), r"'n' \(MaxPool\).*lacks attribute 'kernel_shape', which MaxPool-12 requires"),
])
def test_attributes_are_checked_against_the_schema(model, message):
    with pytest.raises(ep.InvalidGraphError, match=message):
        _session(model)


def test_batchnorm_training_mode_must_be_zero_or_one():
    nodes = [helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"], name="bn", training_mode=2**62)]
    inits = [const(n, np.ones(2, np.float32)) for n in ("s", "b", "m", "v")]
    model = make_model(nodes, [("x", F, [1, 2, 3])], [("y", F, None)], inits)
    with pytest.raises(ep.InvalidGraphError, match=r"'training_mode' = 4611686018427387904; BatchNormalization-15"):
        _session(model)


def test_an_output_declared_with_another_element_type_than_its_node_gives_is_refused():
    model = make_model([helper.make_node("Relu", ["x"], ["y"], name="r")], [("x", F, [4])],
                       [("y", TensorProto.FLOAT16, [4])])
    message = r"'r' \(Relu\).*output 0 \('Y'\) 'y' is declared tensor\(float16\), but Relu-14 makes it tensor\(float\)"
    with pytest.raises(ep.InvalidGraphError, match=message):
        _session(model)


def test_a_value_declared_with_element_type_undefined_is_refused():
    model = make_model([helper.make_node("Relu", ["x"], ["y"])], [("x", F, [4])], [("y", TensorProto.UNDEFINED, [4])])
    with pytest.raises(ep.ModelLoadError, match=r"value 'y' .*unknown element type 0"):
        _session(model)


def test_a_model_without_outputs_is_refused():
    model = make_model([helper.make_node("Relu", ["x"], ["y"])], [("x", F, [4])], [])
    with pytest.raises(ep.InvalidGraphError, match=r"graph 'test' .* declares no outputs"):
        _session(model)


def test_before_ir_version_4_an_initializer_is_a_graph_input_or_read_by_a_node():
    def model(initializers: list[str]) -> onnx.ModelProto:
        m = make_model([helper.make_node("Add", ["x", "c"], ["y"])], [("x", F, [2])], [("y", F, [2])],
                       [const(n, np.ones(2, np.float32)) for n in initializers])
        m.ir_version = 3
        return m

    with pytest.raises(ep.InvalidGraphError, match=r"initializer 'u' .* neither a graph input nor read.*IR version 3"):
        _session(model(["c", "u"]))
    (y,) = _session(model(["c"])).run(None, {"x": np.zeros(2, np.float32)})  # as onnxruntime, which real models need
    np.testing.assert_array_equal(y, [1, 1])
    listed = model(["c", "u"])
    listed.graph.input.append(helper.make_tensor_value_info("u", F, [2]))
    _session(listed)


def test_valid_integer_outputs_still_load():
    model = make_model([helper.make_node("Shape", ["x"], ["y"])], [("x", F, [2, 3])], [("y", I64, [2])])
    np.testing.assert_array_equal(_session(model).run(None, {"x": np.zeros((2, 3), np.float32)})[0], [2, 3])


def _bn(outputs: list[str], training_mode: int) -> onnx.ModelProto:
    node = helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], outputs, name="bn",
                            training_mode=training_mode)
    inits = [const(n, np.ones(2, np.float32)) for n in ("s", "b", "m", "v")]
    return make_model([node], [("x", F, [1, 2, 3])], [(o, F, None) for o in outputs], inits, opset=15)


def test_batchnorm_output_count_must_match_training_mode():
    with pytest.raises(ep.InvalidGraphError, match=r"'bn' .* 1 outputs; BatchNormalization-15 with training_mode 1 "
                                                   r"produces 3"):
        _session(_bn(["y"], 1))
    with pytest.raises(ep.InvalidGraphError, match=r"3 outputs; BatchNormalization-15 with training_mode 0 produces 1"):
        _session(_bn(["y", "rm", "rv"], 0))
    (y,) = _session(_bn(["y"], 0)).run(None, {"x": np.ones((1, 2, 3), np.float32)})
    assert y.shape == (1, 2, 3)


def test_rnn_clip_must_be_positive():
    node = helper.make_node("LSTM", ["x", "w", "r"], ["y"], name="lstm", hidden_size=2, clip=-1.0)
    inits = [const("w", np.zeros((1, 8, 3), np.float32)), const("r", np.zeros((1, 8, 2), np.float32))]
    model = make_model([node], [("x", F, [1, 1, 3])], [("y", F, None)], inits)
    with pytest.raises(ep.InvalidGraphError, match=r"'lstm' \(LSTM\).*'clip' = -1.0; LSTM-14 needs it greater than 0"):
        _session(model)


def test_conv_with_both_pads_and_auto_pad_is_refused():
    node = helper.make_node("Conv", ["x", "w"], ["y"], name="conv", auto_pad="SAME_UPPER", pads=[1, 1, 1, 1])
    model = make_model([node], [("x", F, [1, 1, 3, 3])], [("y", F, None)],
                       [const("w", np.ones((1, 1, 3, 3), np.float32))])
    with pytest.raises(ep.InvalidGraphError, match=r"'conv' \(Conv\) in graph 'test' has both pads and auto_pad"):
        _session(model)


def test_loop_body_iteration_and_condition_have_their_spec_types():
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]), helper.make_node("Add", ["acc", "one"], ["acc2"])],
        "body", [helper.make_tensor_value_info("i", TensorProto.UINT8, []),
                 helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
                 helper.make_tensor_value_info("acc", F, [1])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("acc2", F, [1])],
        [const("one", np.ones(1, np.float32))])
    node = helper.make_node("Loop", ["n", "", "a0"], ["a"], name="loop", body=body)
    model = make_model([node], [("a0", F, [1])], [("a", F, [1])], [const("n", np.array(3, np.int64))])
    with pytest.raises(ep.InvalidGraphError, match=r"'loop' \(Loop\).*body input 0 'i' is declared uint8; a Loop "
                                                   r"body's input 0 is int64"):
        _session(model)
    model.graph.node[0].attribute[0].g.input[0].type.tensor_type.elem_type = TensorProto.INT64
    np.testing.assert_array_equal(_session(model).run(None, {"a0": np.zeros(1, np.float32)})[0], [3])
