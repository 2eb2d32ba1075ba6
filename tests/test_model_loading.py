"""Model loading: external data confined to the model's folder and read by size, and validation that
refuses malformed models at load time with an error naming the tensor, value, node or version."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import ep_runtime as ep
from ep_runtime.model import load_model
from tests.helpers.models import I64, F, const, make_model

X4 = [("x", F, [4])]
Y4 = [("y", F, [4])]


# --------------------------------------------------------------------------- helpers

def _externalize(tensor: onnx.TensorProto, location: str, **info) -> bytes:
    """Mark `tensor` as stored in `location` (info: offset/length, as given); return the bytes it held."""
    data = numpy_helper.to_array(tensor).tobytes()
    del tensor.external_data[:]
    entries = {"location": location, **info}
    for key, value in entries.items():
        tensor.external_data.add(key=key, value=str(value))
    tensor.data_location = TensorProto.EXTERNAL
    tensor.ClearField("raw_data")
    for field in ("float_data", "int64_data", "int32_data"):
        tensor.ClearField(field)
    return data


def _with_domains(model: onnx.ModelProto, *domains: str) -> onnx.ModelProto:
    """The model importing opset 1 of each custom domain as well."""
    model.opset_import.extend(helper.make_opsetid(d, 1) for d in domains)
    return model


def _attr(node: onnx.NodeProto, name: str) -> onnx.AttributeProto:
    return next(a for a in node.attribute if a.name == name)


def _save(tmp_path, model: onnx.ModelProto):
    path = tmp_path / "model" / "m.onnx"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(model.SerializeToString())
    return path


def _sparse(values, indices, dims) -> onnx.SparseTensorProto:
    return helper.make_sparse_tensor(const("w", np.asarray(values, np.float32)),
                                     const("w_indices", np.asarray(indices, np.int64)), dims)


def _sparse_initializer_model() -> onnx.ModelProto:
    model = make_model([helper.make_node("Add", ["x", "w"], ["y"])], X4, Y4)
    model.graph.sparse_initializer.append(_sparse([5, 7], [1, 3], [4]))
    return model


def _run(source, x=None):
    sess = ep.InferenceSession(source, providers=["cpu"])
    return sess.run(None, {"x": np.zeros(4, np.float32) if x is None else x})[0]


# --------------------------------------------------------------------------- external data: where it is read from

def test_sparse_initializer_values_and_indices_are_read_from_the_model_folder(tmp_path, monkeypatch):
    model = _sparse_initializer_model()
    sp = model.graph.sparse_initializer[0]
    path = _save(tmp_path, model)
    (path.parent / "values.bin").write_bytes(_externalize(sp.values, "values.bin"))
    (path.parent / "indices.bin").write_bytes(_externalize(sp.indices, "indices.bin"))
    path.write_bytes(model.SerializeToString())
    monkeypatch.chdir(tmp_path)  # a different working directory must not matter
    np.testing.assert_array_equal(_run(str(path)), [0, 5, 0, 7])


def test_sparse_initializer_data_is_not_read_from_the_working_directory(tmp_path, monkeypatch):
    model = _sparse_initializer_model()
    secret = _externalize(model.graph.sparse_initializer[0].values, "secret.bin")
    (tmp_path / "secret.bin").write_bytes(secret)  # beside the process, not beside the model
    path = _save(tmp_path, model)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ep.ModelLoadError, match=r"tensor 'w'.*external data file 'secret\.bin' not found in"):
        ep.InferenceSession(str(path), providers=["cpu"])


def _assert_read_from_the_model_folder(tmp_path, monkeypatch, model, tensor, file: str, missing: str, want) -> None:
    """Externalize `tensor` to `file`: with the file only in the working directory (the folder above the
    model's) loading fails with `missing`; once it is beside the model the model runs and gives `want`."""
    data = _externalize(tensor, file)
    path = _save(tmp_path, model)
    (tmp_path / file).write_bytes(data)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ep.ModelLoadError, match=missing):
        ep.InferenceSession(str(path), providers=["cpu"])
    (path.parent / file).write_bytes(data)
    np.testing.assert_array_equal(_run(str(path)), want)


def test_constant_sparse_value_is_read_from_the_model_folder_not_the_working_directory(tmp_path, monkeypatch):
    sp = _sparse([5, 7], [1, 3], [4])
    model = make_model([helper.make_node("Constant", [], ["w"], sparse_value=sp),
                        helper.make_node("Add", ["x", "w"], ["y"])], X4, Y4)
    attr_sp = model.graph.node[0].attribute[0].sparse_tensor
    _assert_read_from_the_model_folder(tmp_path, monkeypatch, model, attr_sp.values, "values.bin",
                                       r"'values\.bin' not found in", [0, 5, 0, 7])


def test_constant_in_a_local_function_reads_external_data_from_the_model_folder(tmp_path, monkeypatch):
    body = [helper.make_node("Constant", [], ["c"], value=const("c", np.arange(4, dtype=np.float32))),
            helper.make_node("Add", ["a", "c"], ["b"])]
    fn = helper.make_function("local", "AddArange", ["a"], ["b"], body, [helper.make_opsetid("", 17)])
    model = _with_domains(make_model([helper.make_node("AddArange", ["x"], ["y"], domain="local")], X4, Y4,
                                     functions=[fn]), "local")
    _assert_read_from_the_model_folder(tmp_path, monkeypatch, model, model.functions[0].node[0].attribute[0].t,
                                       "c.bin", r"function 'local\.AddArange'.*'c\.bin' not found in", [0, 1, 2, 3])


def test_constant_inside_an_if_branch_reads_external_data_from_the_model_folder(tmp_path):
    def branch(value):
        return helper.make_graph(
            [helper.make_node("Constant", [], ["c"], value=const("c", np.full(4, value, np.float32))),
             helper.make_node("Add", ["x", "c"], ["r"])], f"b{value}", [], [helper.make_tensor_value_info("r", F, [4])])
    model = make_model([helper.make_node("If", ["cond"], ["y"], then_branch=branch(1), else_branch=branch(2))],
                       [("cond", TensorProto.BOOL, []), *X4], Y4)
    then_t = _attr(_attr(model.graph.node[0], "then_branch").g.node[0], "value").t
    path = _save(tmp_path, model)
    (path.parent / "then.bin").write_bytes(_externalize(then_t, "then.bin"))
    path.write_bytes(model.SerializeToString())
    sess = ep.InferenceSession(str(path), providers=["cpu"])
    got = sess.run(None, {"cond": np.array(True), "x": np.zeros(4, np.float32)})[0]
    np.testing.assert_array_equal(got, [1, 1, 1, 1])


def _model_with_tensor_at(place: str) -> tuple[onnx.ModelProto, onnx.TensorProto]:
    """A model with one tensor placed at `place`, and that tensor (to be made external)."""
    tensor = const("t", np.ones(4, np.float32))
    relu = helper.make_node("Relu", ["x"], ["y"])
    out = helper.make_tensor_value_info("y", F, [4])
    if place == "initializer":
        model = make_model([helper.make_node("Add", ["x", "t"], ["y"])], X4, Y4, [tensor])
        return model, model.graph.initializer[0]
    if place in ("sparse values", "sparse indices"):
        model = _sparse_initializer_model()
        sp = model.graph.sparse_initializer[0]
        return model, sp.values if place == "sparse values" else sp.indices
    if place == "Constant value":
        model = make_model([helper.make_node("Constant", [], ["c"], value=tensor),
                            helper.make_node("Add", ["x", "c"], ["y"])], X4, Y4)
        return model, model.graph.node[0].attribute[0].t
    if place == "Constant sparse_value":
        model = make_model([helper.make_node("Constant", [], ["c"], sparse_value=_sparse([1], [0], [4])),
                            helper.make_node("Add", ["x", "c"], ["y"])], X4, Y4)
        return model, model.graph.node[0].attribute[0].sparse_tensor.values
    if place == "TENSORS attribute":
        node = helper.make_node("Custom", ["x"], ["y"], domain="custom", tensors=[tensor])
        model = _with_domains(make_model([node], X4, Y4), "custom")
        return model, model.graph.node[0].attribute[0].tensors[0]
    if place == "GRAPHS attribute":
        body = helper.make_graph([relu], "body", [helper.make_tensor_value_info("x", F, [4])], [out], [tensor])
        node = helper.make_node("Custom", ["x"], ["y"], domain="custom", bodies=[body])
        model = _with_domains(make_model([node], X4, Y4), "custom")
        return model, model.graph.node[0].attribute[0].graphs[0].initializer[0]
    if place == "nested Loop body":
        inner = helper.make_graph([helper.make_node("Identity", ["cond_in"], ["cond_out"]),
                                   helper.make_node("Add", ["v", "t"], ["v_out"])], "loop",
                                  [helper.make_tensor_value_info("i", I64, []),
                                   helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
                                   helper.make_tensor_value_info("v", F, [4])],
                                  [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
                                   helper.make_tensor_value_info("v_out", F, [4])], [tensor])
        then_b = helper.make_graph([helper.make_node("Loop", ["n", "", "x"], ["r"], body=inner)], "then", [],
                                   [helper.make_tensor_value_info("r", F, [4])])
        else_b = helper.make_graph([helper.make_node("Identity", ["x"], ["r2"])], "else", [],
                                   [helper.make_tensor_value_info("r2", F, [4])])
        model = make_model([helper.make_node("If", ["cond"], ["y"], then_branch=then_b, else_branch=else_b)],
                           [("cond", TensorProto.BOOL, []), ("n", I64, []), *X4], Y4)
        return model, _attr(_attr(model.graph.node[0], "then_branch").g.node[0], "body").g.initializer[0]
    if place == "function attribute default":
        fn = helper.make_function("local", "F", ["a"], ["b"], [helper.make_node("Identity", ["a"], ["b"])],
                                  [helper.make_opsetid("", 17)])
        fn.attribute_proto.append(helper.make_attribute("w", tensor))
        model = _with_domains(make_model([relu], X4, Y4, functions=[fn]), "local")
        return model, model.functions[0].attribute_proto[0].t
    raise AssertionError(place)


TENSOR_PLACES = ["initializer", "sparse values", "sparse indices", "Constant value", "Constant sparse_value",
                 "TENSORS attribute", "GRAPHS attribute", "nested Loop body", "function attribute default"]


@pytest.mark.parametrize("place", TENSOR_PLACES)
def test_external_data_escaping_the_folder_is_refused_wherever_the_tensor_sits(tmp_path, place):
    model, tensor = _model_with_tensor_at(place)
    (tmp_path / "secret.bin").write_bytes(_externalize(tensor, "../secret.bin"))
    path = _save(tmp_path, model)
    with pytest.raises(ep.ModelLoadError, match=r"'\.\./secret\.bin' escapes the model's folder"):
        load_model(str(path))


@pytest.mark.parametrize("place", TENSOR_PLACES)
def test_external_data_inside_the_folder_is_loaded_wherever_the_tensor_sits(tmp_path, place):
    model, tensor = _model_with_tensor_at(place)
    want = numpy_helper.to_array(tensor)
    path = _save(tmp_path, model)
    (path.parent / "data.bin").write_bytes(b"pad" + _externalize(tensor, "data.bin", offset=3))
    path.write_bytes(model.SerializeToString())
    loaded = load_model(str(path))
    loaded_tensor, _ = _find_same_tensor(loaded, model, tensor)
    assert loaded_tensor.data_location != TensorProto.EXTERNAL
    np.testing.assert_array_equal(numpy_helper.to_array(loaded_tensor), want)


def _find_same_tensor(loaded: onnx.ModelProto, original: onnx.ModelProto, tensor: onnx.TensorProto):
    from ep_runtime.proto_walk import iter_tensors

    index = next(k for k, (t, _) in enumerate(iter_tensors(original)) if t is tensor or t == tensor)
    return list(iter_tensors(loaded))[index]


@pytest.mark.parametrize("source", ["bytes", "proto"])
def test_sparse_external_data_without_a_model_path_is_a_clear_error(source):
    model = _sparse_initializer_model()
    _externalize(model.graph.sparse_initializer[0].indices, "indices.bin")
    given = model.SerializeToString() if source == "bytes" else model
    with pytest.raises(ep.ModelLoadError, match=r"indices of sparse initializer 'w'.*load the model from its file"):
        ep.InferenceSession(given, providers=["cpu"])


# --------------------------------------------------------------------------- external data: how much is read

def test_external_data_without_length_reads_only_the_tensor_size_from_a_huge_file(tmp_path):
    model = make_model([helper.make_node("Add", ["x", "w"], ["y"])], X4, Y4,
                       [const("w", np.array([1, 2, 3, 4], np.float32))])
    data = _externalize(model.graph.initializer[0], "big.bin")  # no length: the file is 2 GiB
    path = _save(tmp_path, model)
    with open(path.parent / "big.bin", "wb") as f:
        f.write(data)
        f.truncate(2 << 30)  # sparse: takes no disk space
    script = textwrap.dedent(f"""
        import numpy as np, ep_runtime as ep
        sess = ep.InferenceSession({str(path)!r}, providers=["cpu"])
        print(sess.run(None, {{"x": np.zeros(4, np.float32)}})[0].tolist())
        # VmHWM (this process's peak RSS) starts afresh at exec; ru_maxrss would keep the parent's at fork
        print(next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:")))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    result, peak_kib = done.stdout.strip().splitlines()[-2:]
    assert result == "[1.0, 2.0, 3.0, 4.0]"
    assert int(peak_kib) < 1024 * 1024, f"peak RSS {int(peak_kib) // 1024} MiB for a 16-byte tensor"


def test_external_file_too_short_names_the_tensor_and_the_file(tmp_path):
    model = make_model([helper.make_node("Add", ["x", "w"], ["y"])], X4, Y4, [const("w", np.ones(4, np.float32))])
    data = _externalize(model.graph.initializer[0], "short.bin")
    path = _save(tmp_path, model)
    (path.parent / "short.bin").write_bytes(data[:10])
    with pytest.raises(ep.ModelLoadError, match=r"tensor 'w'.*'short\.bin' is too short: 16 bytes at offset 0 .* 10 "):
        load_model(str(path))


def test_external_length_that_disagrees_with_the_dims_is_refused(tmp_path):
    model = make_model([helper.make_node("Add", ["x", "w"], ["y"])], X4, Y4, [const("w", np.ones(4, np.float32))])
    data = _externalize(model.graph.initializer[0], "w.bin", offset=0, length=8)
    path = _save(tmp_path, model)
    (path.parent / "w.bin").write_bytes(data)
    with pytest.raises(ep.ModelLoadError, match=r"tensor 'w'.*length 8 does not match its dims \[4\].*16 bytes"):
        load_model(str(path))


@pytest.mark.parametrize("key", ["offset", "length"])
def test_non_integer_external_offset_or_length_names_the_tensor(tmp_path, key):
    model = make_model([helper.make_node("Add", ["x", "w"], ["y"])], X4, Y4, [const("w", np.ones(4, np.float32))])
    data = _externalize(model.graph.initializer[0], "w.bin", **{key: "abc"})
    path = _save(tmp_path, model)
    (path.parent / "w.bin").write_bytes(data)
    with pytest.raises(ep.ModelLoadError, match=rf"tensor 'w'.*external data {key} 'abc' is not an integer"):
        load_model(str(path))


def test_external_string_tensor_is_refused(tmp_path):
    tensor = helper.make_tensor("s", TensorProto.STRING, [1], [b"abc"])
    model = make_model([helper.make_node("Identity", ["s"], ["y"])], [], [("y", TensorProto.STRING, [1])], [tensor])
    t = model.graph.initializer[0]
    t.ClearField("string_data")
    t.external_data.add(key="location", value="s.bin")
    t.data_location = TensorProto.EXTERNAL
    path = _save(tmp_path, model)
    (path.parent / "s.bin").write_bytes(b"abc")
    with pytest.raises(ep.ModelLoadError, match=r"tensor 's'.*string tensors cannot be stored as external data"):
        load_model(str(path))


# --------------------------------------------------------------------------- versions

def test_unknown_ai_onnx_opset_is_a_load_error_naming_it():
    model = make_model([helper.make_node("Relu", ["x"], ["y"])], X4, Y4, opset=99)
    with pytest.raises(ep.ModelLoadError, match=r"opset 99 of domain 'ai\.onnx'"):
        ep.InferenceSession(model, providers=["cpu"])


def test_unknown_ir_version_is_a_load_error_naming_it():
    model = make_model([helper.make_node("Relu", ["x"], ["y"])], X4, Y4)
    model.ir_version = 99
    with pytest.raises(ep.ModelLoadError, match=r"IR version 99"):
        ep.InferenceSession(model, providers=["cpu"])


def test_custom_domain_opsets_are_not_limited():
    model = make_model([helper.make_node("Relu", ["x"], ["y"])], X4, Y4)
    model.opset_import.append(helper.make_opsetid("com.example", 1234))
    np.testing.assert_array_equal(_run(model, np.array([-1, 2, -3, 4], np.float32)), [0, 2, 0, 4])


# --------------------------------------------------------------------------- tensors and declared types

def test_negative_initializer_dim_names_the_tensor():
    model = make_model([helper.make_node("Add", ["x", "w"], ["y"])], X4, Y4, [const("w", np.ones(4, np.float32))])
    model.graph.initializer[0].dims[0] = -4
    with pytest.raises(ep.ModelLoadError, match=r"tensor 'w'.*negative dimension: dims \[-4\]"):
        ep.InferenceSession(model, providers=["cpu"])


def test_unknown_element_type_of_an_initializer_names_the_tensor():
    model = make_model([helper.make_node("Add", ["x", "w"], ["y"])], X4, Y4, [const("w", np.ones(4, np.float32))])
    model.graph.initializer[0].data_type = 999
    with pytest.raises(ep.ModelLoadError, match=r"tensor 'w'.*unknown element type 999"):
        ep.InferenceSession(model, providers=["cpu"])


def test_unknown_element_type_of_a_declared_value_names_the_value():
    model = make_model([helper.make_node("Relu", ["x"], ["h"]), helper.make_node("Relu", ["h"], ["y"])], X4, Y4)
    model.graph.value_info.append(helper.make_tensor_value_info("h", 999, [4]))
    with pytest.raises(ep.ModelLoadError, match=r"value 'h'.*unknown element type 999"):
        ep.InferenceSession(model, providers=["cpu"])


def test_raw_data_of_the_wrong_size_for_the_dims_names_the_tensor():
    model = make_model([helper.make_node("Add", ["x", "w"], ["y"])], X4, Y4, [const("w", np.ones(4, np.float32))])
    model.graph.initializer[0].raw_data = np.ones(3, np.float32).tobytes()
    with pytest.raises(ep.ModelLoadError, match=r"tensor 'w'.*dims \[4\] of float need 16 bytes of raw_data.* 12"):
        ep.InferenceSession(model, providers=["cpu"])


def test_typed_data_of_the_wrong_count_names_the_tensor():
    model = make_model([helper.make_node("Add", ["x", "w"], ["y"])], X4, Y4,
                       [helper.make_tensor("w", F, [4], [1.0, 2.0, 3.0, 4.0])])
    del model.graph.initializer[0].float_data[-1]
    with pytest.raises(ep.ModelLoadError, match=r"tensor 'w'.*need 4 entries of float_data, the model holds 3"):
        ep.InferenceSession(model, providers=["cpu"])


def test_sparse_index_out_of_range_names_the_sparse_initializer():
    model = make_model([helper.make_node("Add", ["x", "w"], ["y"])], X4, Y4)
    model.graph.sparse_initializer.append(_sparse([5, 7], [1, 4], [4]))
    with pytest.raises(ep.ModelLoadError, match=r"indices of sparse initializer 'w'.*outside dims \[4\]"):
        ep.InferenceSession(model, providers=["cpu"])


# --------------------------------------------------------------------------- names

def test_duplicate_graph_input_is_a_load_error_naming_it():
    model = make_model([helper.make_node("Add", ["x", "x"], ["y"])], [*X4, *X4], Y4)
    with pytest.raises(ep.InvalidGraphError, match=r"declares input 'x' twice"):
        ep.InferenceSession(model, providers=["cpu"])


def test_duplicate_initializer_is_a_load_error_naming_it():
    w = const("w", np.ones(4, np.float32))
    model = make_model([helper.make_node("Add", ["x", "w"], ["y"])], X4, Y4, [w, w])
    with pytest.raises(ep.InvalidGraphError, match=r"initializer 'w' twice"):
        ep.InferenceSession(model, providers=["cpu"])


def test_value_produced_twice_is_a_load_error_naming_it():
    model = make_model([helper.make_node("Relu", ["x"], ["y"]), helper.make_node("Neg", ["x"], ["y"])], X4, Y4)
    with pytest.raises(ep.InvalidGraphError, match=r"'y' is produced twice"):
        ep.InferenceSession(model, providers=["cpu"])


def test_empty_initializer_name_is_a_load_error():
    model = make_model([helper.make_node("Add", ["x", "w"], ["y"])], X4, Y4, [const("", np.ones(4, np.float32))])
    with pytest.raises(ep.InvalidGraphError, match=r"initializer with an empty name"):
        ep.InferenceSession(model, providers=["cpu"])


def test_empty_graph_input_and_output_names_are_load_errors():
    model = make_model([helper.make_node("Relu", ["x"], ["y"])], [*X4, ("", F, [4])], Y4)
    with pytest.raises(ep.InvalidGraphError, match=r"input #1 of graph 'test' has an empty name"):
        ep.InferenceSession(model, providers=["cpu"])
    model = make_model([helper.make_node("Relu", ["x"], [""])], X4, [("", F, [4])])
    with pytest.raises(ep.InvalidGraphError, match=r"output #0 of graph 'test' has an empty name"):
        ep.InferenceSession(model, providers=["cpu"])


def test_required_node_input_with_an_empty_name_names_the_node():
    model = make_model([helper.make_node("Relu", [""], ["y"], name="r")], X4, Y4)
    with pytest.raises(ep.InvalidGraphError, match=r"node 'r' \(Relu\).*input 0 \('X'\) is required"):
        ep.InferenceSession(model, providers=["cpu"])


def test_omitted_optional_inputs_still_load():
    clip = helper.make_node("Clip", ["x", "", "hi"], ["y"])
    model = make_model([clip], X4, Y4, [const("hi", np.array(1.5, np.float32))])
    np.testing.assert_array_equal(_run(model, np.array([-3, 0, 1, 2], np.float32)), [-3, 0, 1, 1.5])


# --------------------------------------------------------------------------- node signatures and control flow

def test_float_reshape_shape_initializer_names_node_and_tensor():
    model = make_model([helper.make_node("Reshape", ["x", "shape"], ["y"], name="rs")], X4, Y4,
                       [const("shape", np.array([4], np.float32))])
    with pytest.raises(ep.InvalidGraphError,
                       match=r"node 'rs' \(Reshape\).*'shape' of type tensor\(float\); Reshape-14 accepts "
                             r"tensor\(int64\)"):
        ep.InferenceSession(model, providers=["cpu"])


def test_shape_input_of_the_wrong_type_from_a_typed_graph_input_names_node_and_value():
    model = make_model([helper.make_node("Slice", ["x", "starts", "ends"], ["y"], name="sl")],
                       [*X4, ("starts", F, [1]), ("ends", F, [1])], Y4)
    with pytest.raises(ep.InvalidGraphError, match=r"node 'sl' \(Slice\).*'starts' of type tensor\(float\)"):
        ep.InferenceSession(model, providers=["cpu"])


def test_shape_input_computed_as_float_is_caught_through_shape_inference():
    model = make_model([helper.make_node("Constant", [], ["s"], value=const("v", np.array([4], np.float32))),
                        helper.make_node("Reshape", ["x", "s"], ["y"], name="rs")], X4, Y4)
    with pytest.raises(ep.InvalidGraphError, match=r"node 'rs' \(Reshape\).*'s' of type tensor\(float\)"):
        ep.InferenceSession(model, providers=["cpu"])


def test_inputs_sharing_a_type_parameter_must_agree():
    model = make_model([helper.make_node("Add", ["x", "w"], ["y"], name="add")], X4, Y4,
                       [const("w", np.ones(4, np.int64))])
    with pytest.raises(ep.InvalidGraphError,
                       match=r"node 'add' \(Add\).*'x' \(tensor\(float\)\) and 'w' \(tensor\(int64\)\)"):
        ep.InferenceSession(model, providers=["cpu"])


def test_too_many_node_inputs_names_the_node():
    model = make_model([helper.make_node("Relu", ["x", "x"], ["y"], name="r")], X4, Y4)
    with pytest.raises(ep.InvalidGraphError, match=r"node 'r' \(Relu\) in graph 'test' has 2 inputs; Relu-14 takes 1"):
        ep.InferenceSession(model, providers=["cpu"])


def _branch(n_outputs: int, name: str) -> onnx.GraphProto:
    outs = [f"{name}{k}" for k in range(n_outputs)]
    return helper.make_graph([helper.make_node("Identity", ["x"], [o]) for o in outs], name, [],
                             [helper.make_tensor_value_info(o, F, [4]) for o in outs])


def test_if_branches_with_different_output_counts_name_the_node():
    node = helper.make_node("If", ["c"], ["y"], name="choose", then_branch=_branch(1, "t"), else_branch=_branch(2, "e"))
    model = make_model([node], [("c", TensorProto.BOOL, []), *X4], Y4)
    with pytest.raises(ep.InvalidGraphError, match=r"node 'choose' \(If\).*then_branch has 1 outputs but else_b"):
        ep.InferenceSession(model, providers=["cpu"])


def test_if_branches_producing_more_outputs_than_the_node_name_the_node():
    node = helper.make_node("If", ["c"], ["y"], name="choose", then_branch=_branch(2, "t"), else_branch=_branch(2, "e"))
    model = make_model([node], [("c", TensorProto.BOOL, []), *X4], Y4)
    with pytest.raises(ep.InvalidGraphError, match=r"node 'choose' \(If\) in graph 'test' has 1 outputs but its bra"):
        ep.InferenceSession(model, providers=["cpu"])


def test_loop_body_with_the_wrong_number_of_inputs_names_the_node():
    body = helper.make_graph([helper.make_node("Identity", ["cond_in"], ["cond_out"]),
                              helper.make_node("Identity", ["v"], ["v_out"])], "body",
                             [helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
                              helper.make_tensor_value_info("v", F, [4])],
                             [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
                              helper.make_tensor_value_info("v_out", F, [4])])
    node = helper.make_node("Loop", ["n", "", "x"], ["y"], name="loop", body=body)
    model = make_model([node], [("n", I64, []), *X4], Y4)
    with pytest.raises(ep.InvalidGraphError, match=r"node 'loop' \(Loop\).*body has 2 inputs.*needs 2 \+ 1"):
        ep.InferenceSession(model, providers=["cpu"])
