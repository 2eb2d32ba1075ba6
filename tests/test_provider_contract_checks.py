"""What a provider hands back is held to what the graph promises, and kernels never answer silently wrong.

- A compiled subgraph's outputs (their number, and each tensor's dtype, rank and static dims) are
  checked where they come back to the executor, so a broken plugin's result never reaches another
  provider or the user: the error names the provider, the subgraph, the output and its node.
- A provider whose get_capability answers something that is not a Capability claims nothing.
- Integer Div/Mod by zero, Gather with an out-of-range index (OpenCL) and Softmax over an empty
  axis give an error or the right (empty) result, not a wrong number.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from onnx import helper

import ep_runtime as ep
from ep_runtime import ExecutionProvider, KernelRegistry, hookimpl
from ep_runtime.plugins import PluginWarning, get_plugin_manager
from ep_runtime.provider import Capability
from ep_runtime.registry import is_reference_provider
from tests.cuda_support import cuda  # noqa: F401  (the `cuda` fixture: numpy standing in, and CuPy with a GPU)
from tests.helpers.models import I64, F, make_model
from tests.helpers.plugins import registered_plugin
from tests.opencl_support import needs_opencl, opencl_fixture  # noqa: F401  (the `opencl` fixture)

CPU = "CPUExecutionProvider"
X = np.array([[-1.0, 2.0, -3.0], [4.0, -5.0, 6.0]], np.float32)


class Answering(ExecutionProvider):
    """Claims Relu and 'compiles' it into whatever `answer(x)` returns (set per test)."""

    name = "AnsweringExecutionProvider"
    aliases = ("answering",)
    answer: Any = None

    def get_capability(self, graph, nodes):
        cap = Capability()
        for node in nodes:
            if node.op_type == "Relu":
                cap.claimed.append(node)
            else:
                cap.refuse(node, "op", "only Relu")
        return cap

    def compile(self, subgraph):
        answer = type(self).answer
        return lambda x: answer(x)


class Plugin:
    @hookimpl
    def ep_runtime_providers(self):
        return [Answering]


@pytest.fixture
def answering():
    """Registers the Answering provider; yields a function setting what its subgraph returns."""
    pm = get_plugin_manager()
    pm.register(Plugin(), name="test-answering")

    def set_answer(fn):
        Answering.answer = staticmethod(fn)

    try:
        yield set_answer
    finally:
        pm.unregister(name="test-answering")
        Answering.answer = None


def relu_tanh_model(dims=(2, 3)):
    """relu (on the Answering provider) feeds tanh (on the CPU): 'r' crosses from one to the other."""
    nodes = [helper.make_node("Relu", ["x"], ["r"], name="relu"),
             helper.make_node("Tanh", ["r"], ["y"], name="tanh")]
    return make_model(nodes, [("x", F, list(dims))], [("y", F, list(dims))])


def session(model=None):
    return ep.InferenceSession(model if model is not None else relu_tanh_model(), providers=["answering", "cpu"])


WRONG_ANSWERS = {
    "too few outputs": (lambda x: (), r"its outputs are 0 values, the subgraph has 1 \('r'\)"),
    "too many outputs": (lambda x: (np.maximum(x, 0), x), r"its outputs are 2 values, the subgraph has 1"),
    "not a tuple": (lambda x: 7, r"its outputs are a int, not a tuple of 1 values"),
    "wrong dtype": (lambda x: (np.maximum(x, 0).astype(np.float64),),
                    r"output 'r' \(of node 'relu' \(Relu\)\) has dtype float64, the graph says float32"),
    "wrong rank": (lambda x: (np.maximum(x, 0).reshape(-1),),
                   r"output 'r' \(of node 'relu' \(Relu\)\) has shape \[6\], the graph says \[2, 3\]"),
    "wrong dim": (lambda x: (np.maximum(x, 0)[:1],),
                  r"output 'r' \(of node 'relu' \(Relu\)\) has shape \[1, 3\], the graph says \[2, 3\]"),
    "not a tensor": (lambda x: (np.maximum(x, 0).tolist(),),
                     r"output 'r' \(of node 'relu' \(Relu\)\) is a list, not a tensor"),
}


@pytest.mark.parametrize("wrong", list(WRONG_ANSWERS))
def test_provider_output_breaking_the_graph_is_an_error_naming_provider_subgraph_and_output(answering, wrong):
    answer, message = WRONG_ANSWERS[wrong]
    answering(answer)
    sess = session()
    assert sess.get_partition().assignment() == {"relu": "AnsweringExecutionProvider", "tanh": CPU}
    with pytest.raises(ep.KernelError, match=r"provider AnsweringExecutionProvider broke its contract in "
                                             r"subgraph 0 \(first node 'relu' \(Relu\)\): " + message) as info:
        sess.run(None, {"x": X})
    assert info.value.provider == "AnsweringExecutionProvider"


def test_provider_output_matching_the_graph_passes_unchanged(answering):
    answering(lambda x: (np.maximum(x, 0),))
    (y,) = session().run(None, {"x": X})
    np.testing.assert_allclose(y, np.tanh(np.maximum(X, 0)), rtol=1e-6)


def test_symbolic_dims_accept_any_size_but_the_rank_is_still_checked(answering):
    model = relu_tanh_model(dims=("n", 3))
    answering(lambda x: (np.maximum(x, 0),))
    for rows in (1, 4):
        x = np.ones((rows, 3), np.float32)
        np.testing.assert_allclose(session(model).run(None, {"x": x})[0], np.tanh(x), rtol=1e-6)
    answering(lambda x: (np.maximum(x, 0)[None],))
    with pytest.raises(ep.KernelError, match=r"has shape \[1, 2, 3\], the graph says \['\?', 3\]"):
        session(model).run(None, {"x": X})


def test_graph_output_from_a_plugin_provider_is_checked_too(answering):
    model = make_model([helper.make_node("Relu", ["x"], ["y"], name="relu")], [("x", F, [2, 3])], [("y", F, [2, 3])])
    answering(lambda x: (np.maximum(x, 0).astype(np.float16),))
    with pytest.raises(ep.KernelError, match=r"output 'y' \(of node 'relu' \(Relu\)\) has dtype float16"):
        session(model).run(None, {"x": X})


def test_a_plugin_kernel_replacing_a_cpu_kernel_is_checked():
    vendor = KernelRegistry()

    @vendor.kernel("Relu", since=14, impl="sloppy-vendor")
    def relu(x):
        return np.maximum(x, 0).astype(np.float64)

    class Kernels:
        @hookimpl
        def ep_runtime_kernels(self, provider_name):
            return vendor if provider_name == CPU else None

    with registered_plugin(Kernels(), "test-sloppy-kernels"):
        model = make_model([helper.make_node("Relu", ["x"], ["y"], name="relu")], [("x", F, [2, 3])],
                           [("y", F, [2, 3])])
        sess = ep.InferenceSession(model, providers=["cpu"])
        with pytest.raises(ep.KernelError, match=rf"provider {CPU} broke its contract .*has dtype float64"):
            sess.run(None, {"x": X})


def test_the_reference_cpu_provider_is_trusted_and_a_plugin_provider_is_not(answering):
    ref = ep.InferenceSession(relu_tanh_model(), providers=["cpu"])
    assert all(is_reference_provider(p) for p in ref._providers)
    assert not any(is_reference_provider(p) for p in session()._providers if p.name != CPU)


# --------------------------------------------------------------------------- get_capability answering nonsense


class Confused(Answering):
    name = "ConfusedExecutionProvider"
    aliases = ("confused",)
    capability: Any = None

    def get_capability(self, graph, nodes):
        return type(self).capability


@pytest.mark.parametrize("capability", [None, ["relu"], Capability(claimed=[None])],
                         ids=["None", "list", "bad-claims"])
def test_get_capability_answering_no_capability_is_a_warning_and_claims_nothing(capability):
    class ConfusedPlugin:
        @hookimpl
        def ep_runtime_providers(self):
            return [Confused]

    Confused.capability = capability
    with registered_plugin(ConfusedPlugin(), "test-confused"):
        with pytest.warns(PluginWarning, match=r"provider ConfusedExecutionProvider (returned|raised in) "
                                               r".*get_capability.*it is skipped"):
            sess = ep.InferenceSession(relu_tanh_model(), providers=["confused", "cpu"])
        decisions = sess.get_partition().to_dict()["nodes"]
        assert {d["node"]: d["provider"] for d in decisions} == {"relu": CPU, "tanh": CPU}
        assert decisions[0]["refusals"]["ConfusedExecutionProvider"]["kind"] == "error"
        np.testing.assert_allclose(sess.run(None, {"x": X})[0], np.tanh(np.maximum(X, 0)), rtol=1e-6)


# --------------------------------------------------------------------------- no silently wrong numbers


def binary_model(op, dtype, **attrs):
    elem = helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    node = helper.make_node(op, ["a", "b"], ["y"], name=op.lower(), **attrs)
    return make_model([node], [("a", elem, [3]), ("b", elem, [3])], [("y", elem, [3])], opset=13)


INT_CASES = [("Div", {}), ("Mod", {"fmod": 0}), ("Mod", {"fmod": 1})]


@pytest.mark.parametrize("op,attrs", INT_CASES)
@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.uint32])
def test_integer_division_by_zero_on_cpu_is_an_error_naming_the_node(op, attrs, dtype):
    sess = ep.InferenceSession(binary_model(op, dtype, **attrs), providers=["cpu"])
    a, b = np.array([7, 8, 9], dtype), np.array([2, 0, 3], dtype)
    with pytest.raises(ep.KernelError, match=rf"node '{op.lower()}' \({op}\) failed on {CPU}: "
                                             rf"ZeroDivisionError: {op}: integer division by zero"):
        sess.run(None, {"a": a, "b": b})
    (y,) = sess.run(None, {"a": a, "b": np.array([2, 1, 3], dtype)})  # nonzero divisors still work
    assert y.tolist() == ([3, 8, 3] if op == "Div" else [1, 0, 0])


@pytest.mark.parametrize("op,attrs", [("Div", {}), ("Mod", {"fmod": 1})])
def test_float_division_by_zero_stays_ieee(op, attrs):
    sess = ep.InferenceSession(binary_model(op, np.float32, **attrs), providers=["cpu"])
    (y,) = sess.run(None, {"a": np.array([1, -1, 0], np.float32), "b": np.zeros(3, np.float32)})
    if op == "Div":
        assert y[0] == np.inf and y[1] == -np.inf and np.isnan(y[2])
    else:
        assert np.isnan(y).all()


@pytest.mark.parametrize("op,attrs", INT_CASES)
def test_integer_division_by_zero_on_cuda_is_an_error_naming_the_node(cuda, op, attrs):  # noqa: F811
    sess = ep.InferenceSession(binary_model(op, np.int64, **attrs), providers=[cuda, "cpu"])
    assert sess.get_partition().assignment()[op.lower()] == "CUDAExecutionProvider"
    with pytest.raises(ep.KernelError, match=rf"node '{op.lower()}' \({op}\) failed on CUDAExecutionProvider: "
                                             r"ZeroDivisionError: .*integer division by zero"):
        sess.run(None, {"a": np.array([7, 8, 9], np.int64), "b": np.array([2, 0, 3], np.int64)})


@needs_opencl
@pytest.mark.parametrize("index", [5, -6, 100])
def test_opencl_gather_out_of_range_index_is_an_error_naming_the_node(opencl, index):  # noqa: F811
    x = np.arange(15, dtype=np.float32).reshape(5, 3)
    node = helper.make_node("Gather", ["x", "i"], ["y"], name="pick", axis=0)
    model = make_model([node], [("x", F, [5, 3]), ("i", I64, [2])], [("y", F, [2, 3])])
    sess = ep.InferenceSession(model, providers=[opencl, "cpu"])
    assert sess.get_partition().assignment()["pick"] == "OpenCLExecutionProvider"
    with pytest.raises(ep.KernelError, match=r"node 'pick' \(Gather\) failed on OpenCLExecutionProvider: .*"
                                             rf"an index in .*{index}.* is out of range for axis 0 of size 5"):
        sess.run(None, {"x": x, "i": np.array([0, index], np.int64)})
    (y,) = sess.run(None, {"x": x, "i": np.array([4, -5], np.int64)})  # the edges are in range
    np.testing.assert_array_equal(y, x[[4, 0]])


@pytest.mark.parametrize("op", ["Softmax", "LogSoftmax", "Hardmax"])
@pytest.mark.parametrize("opset,shape,axis", [(13, [2, 0], -1), (13, [0, 3, 0], 2), (11, [2, 0, 3], 1),
                                              (11, [3, 0], 1)])
def test_softmax_family_over_an_empty_axis_returns_the_empty_result(op, opset, shape, axis):
    node = helper.make_node(op, ["x"], ["y"], name="sm", axis=axis)
    model = make_model([node], [("x", F, shape)], [("y", F, shape)], opset=opset)
    (y,) = ep.InferenceSession(model, providers=["cpu"]).run(None, {"x": np.zeros(shape, np.float32)})
    assert y.shape == tuple(shape) and y.dtype == np.float32
