"""Bad input gets a clear error naming the culprit: input, node, op, provider or file."""

from __future__ import annotations

import os

import numpy as np
import onnx
import pytest
from onnx import external_data_helper, helper

import ep_runtime as ep
from tests.helpers.models import F, const, make_model
from tests.helpers.plugins import registered_plugin


@pytest.fixture
def relu_session():
    nodes = [helper.make_node("Relu", ["x"], ["y"], name="relu")]
    return ep.InferenceSession(make_model(nodes, [("x", F, ["batch", 3])], [("y", F, ["batch", 3])]),
                               providers=["cpu"])


def test_missing_input_is_named(relu_session):
    with pytest.raises(ep.InvalidArgument, match=r"missing input\(s\) \['x'\]"):
        relu_session.run(None, {})


def test_unknown_input_name_is_named(relu_session):
    with pytest.raises(ep.InvalidArgument, match=r"unknown input name\(s\) \['z'\].*inputs are \['x'\]"):
        relu_session.run(None, {"x": np.zeros((1, 3), np.float32), "z": np.zeros(1)})


def test_wrong_dtype_names_input_and_both_types(relu_session):
    with pytest.raises(ep.InvalidArgument, match=r"input 'x' has dtype float64, expected float32"):
        relu_session.run(None, {"x": np.zeros((1, 3))})


def test_wrong_rank_names_input(relu_session):
    with pytest.raises(ep.InvalidArgument, match=r"input 'x' has rank 3 .* expected rank 2"):
        relu_session.run(None, {"x": np.zeros((1, 3, 1), np.float32)})


def test_mismatched_fixed_dim_names_input_and_axis(relu_session):
    with pytest.raises(ep.InvalidArgument, match=r"input 'x' has dim 4 on axis 1 .* expected 3"):
        relu_session.run(None, {"x": np.zeros((2, 4), np.float32)})


def test_not_an_array_is_refused(relu_session):
    # lists are converted to the declared dtype, as onnxruntime does (tests/test_ort_api.py)
    with pytest.raises(ep.InvalidArgument, match=r"input 'x' must be a numpy array"):
        relu_session.run(None, {"x": "1.0 2.0 3.0"})


def test_unknown_output_name(relu_session):
    with pytest.raises(ep.InvalidArgument, match=r"unknown output name 'nope'"):
        relu_session.run(["nope"], {"x": np.zeros((1, 3), np.float32)})


def test_unknown_provider_name_lists_installed_ones(relu_session):
    model = make_model([helper.make_node("Relu", ["x"], ["y"])], [("x", F, [1])], [("y", F, [1])])
    with pytest.raises(ep.ProviderError, match=r"unknown execution provider 'TPUExecutionProvider'.*CPUExecution"):
        ep.InferenceSession(model, providers=["TPUExecutionProvider"])


def test_op_no_provider_supports_names_op_domain_opset_and_node():
    nodes = [
        helper.make_node("Relu", ["x"], ["r"], name="fine"),
        helper.make_node("Frobnicate", ["r"], ["y"], name="frob_node", domain="com.example"),
    ]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", F, [2])],
                              [helper.make_tensor_value_info("y", F, [2])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                    helper.make_opsetid("com.example", 3)])
    with pytest.raises(ep.NotImplementedByAnyProvider) as err:
        ep.InferenceSession(model, providers=["cpu"])
    msg = str(err.value)
    assert "'frob_node'" in msg and "com.example::Frobnicate" in msg and "opset 3" in msg
    assert "CPUExecutionProvider" in msg and "'fine'" not in msg


def test_kernel_failure_names_node_op_and_provider():
    nodes = [helper.make_node("MatMul", ["a", "b"], ["y"], name="mm")]
    model = make_model(nodes, [("a", F, ["n", "k"]), ("b", F, ["k2", "m"])], [("y", F, None)])
    sess = ep.InferenceSession(model, providers=["cpu"])
    with pytest.raises(ep.KernelError) as err:
        sess.run(None, {"a": np.zeros((2, 3), np.float32), "b": np.zeros((4, 5), np.float32)})
    msg = str(err.value)
    assert "'mm' (MatMul)" in msg and "CPUExecutionProvider" in msg


def test_corrupt_model_file(tmp_path):
    bad = tmp_path / "garbage.onnx"
    bad.write_bytes(os.urandom(64) + b"\xff" * 64)
    with pytest.raises(ep.ModelLoadError, match="garbage.onnx"):
        ep.InferenceSession(str(bad), providers=["cpu"])


def test_truncated_model_file(tmp_path):
    model = make_model([helper.make_node("Add", ["x", "c"], ["y"])], [("x", F, [64])], [("y", F, [64])],
                       [const("c", np.arange(64, dtype=np.float32))])
    data = model.SerializeToString()
    cut = tmp_path / "cut.onnx"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ep.ModelLoadError, match=r"cut\.onnx.*(corrupt or truncated|no graph)"):
        ep.InferenceSession(str(cut), providers=["cpu"])


def test_missing_model_file(tmp_path):
    with pytest.raises(ep.ModelLoadError, match="does not exist"):
        ep.InferenceSession(str(tmp_path / "absent.onnx"), providers=["cpu"])


def _external_model(tmp_path, location: str):
    weights = np.arange(16, dtype=np.float32)
    model = make_model([helper.make_node("Add", ["x", "w"], ["y"])], [("x", F, [16])], [("y", F, [16])],
                       [const("w", weights)])
    tensor = model.graph.initializer[0]
    external_data_helper.set_external_data(tensor, location=location, offset=0, length=weights.nbytes)
    tensor.data_location = onnx.TensorProto.EXTERNAL
    tensor.ClearField("raw_data")
    path = tmp_path / "model" / "m.onnx"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(model.SerializeToString())
    return path, weights


def test_external_data_inside_the_model_folder_loads(tmp_path):
    path, weights = _external_model(tmp_path, "weights.bin")
    (path.parent / "weights.bin").write_bytes(weights.tobytes())
    sess = ep.InferenceSession(str(path), providers=["cpu"])
    np.testing.assert_array_equal(sess.run(None, {"x": np.ones(16, np.float32)})[0], weights + 1)


def test_external_data_escaping_with_dotdot_is_refused(tmp_path):
    path, weights = _external_model(tmp_path, "../secret.bin")
    (tmp_path / "secret.bin").write_bytes(weights.tobytes())
    with pytest.raises(ep.ModelLoadError, match=r"tensor 'w'.*'\.\./secret\.bin' escapes the model's folder"):
        ep.InferenceSession(str(path), providers=["cpu"])


def test_external_data_absolute_path_is_refused(tmp_path):
    secret = tmp_path / "secret.bin"
    secret.write_bytes(np.zeros(16, np.float32).tobytes())
    path, _ = _external_model(tmp_path, str(secret))
    with pytest.raises(ep.ModelLoadError, match=r"tensor 'w'.*absolute path"):
        ep.InferenceSession(str(path), providers=["cpu"])


def test_external_data_symlink_out_of_the_folder_is_refused(tmp_path):
    secret = tmp_path / "secret.bin"
    secret.write_bytes(np.zeros(16, np.float32).tobytes())
    path, _ = _external_model(tmp_path, "link.bin")
    os.symlink(secret, path.parent / "link.bin")
    with pytest.raises(ep.ModelLoadError, match=r"'link\.bin' escapes the model's folder"):
        ep.InferenceSession(str(path), providers=["cpu"])


def test_external_data_from_bytes_needs_a_path(tmp_path):
    path, _ = _external_model(tmp_path, "weights.bin")
    with pytest.raises(ep.ModelLoadError, match="load the model from its file path"):
        ep.InferenceSession(path.read_bytes(), providers=["cpu"])


def test_bad_provider_tuple():
    model = make_model([helper.make_node("Relu", ["x"], ["y"])], [("x", F, [1])], [("y", F, [1])])
    with pytest.raises(ep.ProviderError, match=r"providers\[0\] must be a name or a \(name, options dict\)"):
        ep.InferenceSession(model, providers=[("cpu", "no")])


def test_provider_options_must_parallel_providers():
    model = make_model([helper.make_node("Relu", ["x"], ["y"])], [("x", F, [1])], [("y", F, [1])])
    with pytest.raises(ep.ProviderError, match="provider_options has 2 entries but providers has 1"):
        ep.InferenceSession(model, providers=["cpu"], provider_options=[{}, {}])


def test_unknown_provider_option_names_provider_and_option():
    model = make_model([helper.make_node("Relu", ["x"], ["y"])], [("x", F, [1])], [("y", F, [1])])
    with pytest.raises(ep.ProviderError, match=r"CPUExecutionProvider.*'turbo'"):
        ep.InferenceSession(model, providers=[("cpu", {"turbo": True})])


def test_requesting_an_unavailable_provider_says_why():

    class NoDevice(ep.KernelProvider):
        name = "NoDeviceExecutionProvider"

        @classmethod
        def is_available(cls):
            return False

    class Plugin:
        @ep.hookimpl
        def ep_runtime_providers(self):
            return [NoDevice]

    with registered_plugin(Plugin(), "test-nodevice"):
        assert "NoDeviceExecutionProvider" not in ep.get_available_providers()
        model = make_model([helper.make_node("Relu", ["x"], ["y"])], [("x", F, [1])], [("y", F, [1])])
        # as onnxruntime: warn (saying why) and go on with the others; strict mode makes it an error
        with pytest.warns(UserWarning, match=r"NoDeviceExecutionProvider is not available: .*is_available"):
            sess = ep.InferenceSession(model, providers=["NoDeviceExecutionProvider", "cpu"])
        assert sess.get_providers() == ["CPUExecutionProvider"]
        strict = ep.SessionOptions()
        strict.disable_cpu_ep_fallback = True
        with pytest.raises(ep.ProviderError, match=r"NoDeviceExecutionProvider is not available: .*is_available"):
            ep.InferenceSession(model, strict, providers=["NoDeviceExecutionProvider", "cpu"])


def test_map_inputs_must_be_dicts():
    from onnx import TensorProto

    map_type = helper.make_map_type_proto(TensorProto.STRING, helper.make_tensor_type_proto(TensorProto.FLOAT, []))
    graph = helper.make_graph([helper.make_node("Identity", ["m"], ["o"])], "g",
                              [helper.make_value_info("m", map_type)], [helper.make_value_info("o", map_type)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    sess = ep.InferenceSession(model, providers=["cpu"])
    assert sess.run(None, {"m": {"a": 1.0}}) == [{"a": 1.0}]
    with pytest.raises(ep.InvalidArgument, match=r"input 'm' is a map \(map\(string,tensor\(float\)\)\); pass a dict"):
        sess.run(None, {"m": [1.0]})
