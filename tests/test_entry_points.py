"""Third-party providers from entry points: the example package installed as a real distribution.

The package in examples/ep-runtime-example-provider is installed into a temporary folder
(by pip when it can build offline, else laid out by hand from its pyproject.toml) and used by
child interpreters with that folder on PYTHONPATH, so this process's plugins stay as they were.
"""

from __future__ import annotations

import importlib.metadata as md
import textwrap

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import ep_runtime as ep
from ep_runtime.plugins import AUTOLOAD_ENV
from tests.helpers.models import F, const, make_model
from tests.plugin_packaging import EXAMPLE_DIST, install_example, run_python

EXAMPLE = "ExampleExecutionProvider"
CPU = "CPUExecutionProvider"

PRELUDE = """
import json
import numpy as np
import ep_runtime as ep

def report(**kw):
    print(json.dumps(kw))

def where(sess):
    return {d["node"]: d["provider"] for d in sess.get_partition().to_dict()["nodes"]}

def refusals(sess, provider):
    return {d["node"]: d["refusals"].get(provider) for d in sess.get_partition().to_dict()["nodes"]}

def notes(sess):
    return {d["node"]: d["notes"] for d in sess.get_partition().to_dict()["nodes"]}
"""


@pytest.fixture(scope="session")
def example_site(tmp_path_factory):
    """The folder the example distribution is installed into (once per session)."""
    return install_example(tmp_path_factory)


def child(code: str, site, **env: str) -> dict:
    return run_python(PRELUDE + textwrap.dedent(code), site, env)


def mixed_model() -> onnx.ModelProto:
    """Relu, Add, Sigmoid, Mul and a 2-D MatMul (example provider ops) around a Tanh (CPU only)."""
    rng = np.random.default_rng(0)
    nodes = [
        helper.make_node("Relu", ["x"], ["r"], name="relu"),
        helper.make_node("Tanh", ["r"], ["t"], name="tanh"),
        helper.make_node("Add", ["t", "b"], ["a"], name="add"),
        helper.make_node("Sigmoid", ["a"], ["s"], name="sigmoid"),
        helper.make_node("Mul", ["s", "x"], ["m"], name="mul"),
        helper.make_node("MatMul", ["m", "w"], ["y"], name="matmul"),
    ]
    inits = [const("b", rng.standard_normal((1, 3)).astype(np.float32)),
             const("w", rng.standard_normal((3, 4)).astype(np.float32))]
    return make_model(nodes, [("x", F, [2, 3])], [("y", F, [2, 4])], inits)


def leaky_model() -> onnx.ModelProto:
    nodes = [helper.make_node("LeakyRelu", ["x"], ["y"], name="leaky", alpha=0.2)]
    return make_model(nodes, [("x", F, [2, 3])], [("y", F, [2, 3])])


def save(tmp_path, model: onnx.ModelProto, x: np.ndarray) -> tuple[str, str]:
    onnx.save(model, tmp_path / "model.onnx")
    np.save(tmp_path / "x.npy", x)
    return str(tmp_path / "model.onnx"), str(tmp_path / "x.npy")


X = np.array([[-1.5, 0.0, 2.0], [3.0, -0.25, 0.5]], dtype=np.float32)


def test_example_package_installs_as_a_distribution_with_an_ep_runtime_entry_point(example_site):
    dists = {d.metadata["Name"]: d for d in md.distributions(path=[str(example_site)])}
    assert EXAMPLE_DIST in dists
    eps = [e for e in dists[EXAMPLE_DIST].entry_points if e.group == "ep_runtime"]
    assert [(e.name, e.value) for e in eps] == [("example", "ep_runtime_example_provider.plugin")]


def test_installed_example_provider_is_listed_as_available_with_cpu_last(example_site):
    out = child("report(available=ep.get_available_providers(), every=ep.get_all_providers())", example_site)
    assert EXAMPLE in out["available"]
    assert out["available"][-1] == CPU
    assert EXAMPLE in out["every"]


def test_example_provider_runs_its_ops_and_cpu_the_rest_with_cpu_only_results(example_site, tmp_path):
    model_path, x_path = save(tmp_path, mixed_model(), X)
    out = child(f"""
        sess = ep.InferenceSession({model_path!r}, providers=["example", "cpu"])
        (y,) = sess.run(None, {{"x": np.load({x_path!r})}})
        np.save({str(tmp_path / "y.npy")!r}, y)
        report(where=where(sess), refused=refusals(sess, "{EXAMPLE}"), used=sess.get_providers())
    """, example_site)
    assert out["where"] == {"relu": EXAMPLE, "tanh": CPU, "add": EXAMPLE, "sigmoid": EXAMPLE,
                            "mul": EXAMPLE, "matmul": EXAMPLE}
    assert out["refused"]["tanh"] == {"kind": "op", "reason": "no kernel for ai.onnx::Tanh"}
    assert out["used"] == [EXAMPLE, CPU]
    (expected,) = ep.InferenceSession(mixed_model().SerializeToString(), providers=["cpu"]).run(None, {"x": X})
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), expected, rtol=1e-6, atol=1e-7)


def test_example_provider_refuses_other_dtypes_ranks_and_disabled_ops_with_reasons(example_site, tmp_path):
    nodes = [
        helper.make_node("Relu", ["d"], ["dr"], name="relu_f64"),
        helper.make_node("MatMul", ["x3", "w"], ["y3"], name="matmul_3d"),
        helper.make_node("Mul", ["y3", "y3"], ["m"], name="mul"),
    ]
    model = make_model(nodes, [("d", TensorProto.DOUBLE, [2]), ("x3", F, [2, 2, 3])],
                       [("dr", TensorProto.DOUBLE, [2]), ("m", F, [2, 2, 4])],
                       [const("w", np.ones((3, 4), np.float32))])
    onnx.save(model, tmp_path / "model.onnx")
    out = child(f"""
        sess = ep.InferenceSession({str(tmp_path / "model.onnx")!r},
                                   providers=[("example", {{"disabled_ops": ["Mul"]}}), "cpu"])
        report(where=where(sess), refused=refusals(sess, "{EXAMPLE}"),
               options=sess.get_provider_options()["{EXAMPLE}"])
    """, example_site)
    assert set(out["where"].values()) == {CPU}
    assert out["refused"]["relu_f64"] == {"kind": "dtype", "reason": "float64 not supported"}
    assert out["refused"]["matmul_3d"] == {"kind": "attribute",
                                           "reason": "MatMul only for 2-D inputs; 'x3' has rank 3"}
    assert out["refused"]["mul"] == {"kind": "op", "reason": "Mul disabled by the provider option disabled_ops"}
    assert out["options"] == {"disabled_ops": ["Mul"]}


def test_kernel_hook_swaps_the_cpu_leaky_relu_for_the_vendor_one_and_says_so(example_site, tmp_path):
    model_path, x_path = save(tmp_path, leaky_model(), X)
    out = child(f"""
        from ep_runtime_example_provider import vendor
        sess = ep.InferenceSession({model_path!r}, providers=["cpu"])
        (y,) = sess.run(None, {{"x": np.load({x_path!r})}})
        report(where=where(sess), notes=notes(sess), calls=vendor.calls, y=y.tolist())
    """, example_site)
    assert out["where"] == {"leaky": CPU}
    assert out["notes"]["leaky"] == [f"{CPU}: kernel example-vendor"]
    assert out["calls"] == 1
    # the swapped kernel must agree with the reference one it replaces
    reference = ep.InferenceSession(leaky_model().SerializeToString(), providers=["cpu"])
    # (the built-in kernel: numpy, or the native one where the C kernels are built)
    assert reference.get_partition().to_dict()["nodes"][0]["notes"] in ([], [f"{CPU}: kernel native"])
    (expected,) = reference.run(None, {"x": X})
    np.testing.assert_array_equal(np.array(out["y"], np.float32), expected)


def test_autoload_disabled_hides_the_example_provider_and_its_kernels(example_site, tmp_path):
    model_path, _ = save(tmp_path, leaky_model(), X)
    out = child(f"""
        try:
            ep.InferenceSession({model_path!r}, providers=["example", "cpu"])
            error = None
        except ep.ProviderError as exc:
            error = str(exc)
        cpu_only = ep.InferenceSession({model_path!r}, providers=["cpu"])
        report(available=ep.get_all_providers(), error=error, notes=notes(cpu_only))
    """, example_site, **{AUTOLOAD_ENV: "1"})
    assert EXAMPLE not in out["available"]
    assert CPU in out["available"]
    assert out["error"] is not None and "'example'" in out["error"]
    assert out["notes"] in ({"leaky": []}, {"leaky": [f"{CPU}: kernel native"]})  # built-in kernels only


def test_unavailable_example_provider_is_installed_but_not_available(example_site, tmp_path):
    model_path, _ = save(tmp_path, leaky_model(), X)
    out = child(f"""
        import warnings
        with warnings.catch_warnings(record=True) as caught:  # unavailable: a warning, the CPU provider runs it
            warnings.simplefilter("always")
            ep.InferenceSession({model_path!r}, providers=["example"])
        error = " ".join(str(w.message) for w in caught)
        report(available=ep.get_available_providers(), every=ep.get_all_providers(), error=error)
    """, example_site, EP_EXAMPLE_UNAVAILABLE="1")
    assert EXAMPLE in out["every"]
    assert EXAMPLE not in out["available"]
    assert f"{EXAMPLE} is not available: EP_EXAMPLE_UNAVAILABLE=1 is set" in out["error"]
