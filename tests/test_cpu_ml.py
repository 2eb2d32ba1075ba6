"""The ai.onnx.ml kernels of the CPU provider: every ml operator version is registered, and the
kernels agree with onnxruntime (used here as a test oracle only) on hand-built models, edge
cases included (every branch mode, NaN routing, aggregates, post transforms, string labels)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import ep_runtime
from ep_runtime.graph import Graph
from providers.cpu import REGISTRY
from providers.cpu.ml import encoders

ML = "ai.onnx.ml"
F, D, I64, S = TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.INT64, TensorProto.STRING


def ml_model(op, inputs, outputs, ml_opset=3, **attrs) -> onnx.ModelProto:
    """One ai.onnx.ml node; inputs/outputs are (name, elem_type, shape) triples."""
    node = helper.make_node(op, [n for n, _, _ in inputs], [n for n, _, _ in outputs], domain=ML, **attrs)
    graph = helper.make_graph([node], "ml", [helper.make_tensor_value_info(*i) for i in inputs],
                              [helper.make_tensor_value_info(*o) for o in outputs])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid(ML, ml_opset)],
                             ir_version=10)


def ours(model, *feeds):
    sess = ep_runtime.InferenceSession(model.SerializeToString(), providers=["cpu"])
    return sess.run(None, dict(zip([i.name for i in sess.get_inputs()], feeds)))


def oracle(model, *feeds):
    ort = pytest.importorskip("onnxruntime")
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, dict(zip([i.name for i in sess.get_inputs()], feeds)))


def assert_same(model, *feeds, rtol=1e-5, atol=1e-6):
    got, want = ours(model, *feeds), oracle(model, *feeds)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        if w.dtype == object or w.dtype.kind in "iU":
            np.testing.assert_array_equal(g, w)
        else:
            assert g.dtype == w.dtype
            np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)
    return got


# ---- registration ----


def test_every_ml_operator_version_has_a_kernel():
    missing = []
    for schema in onnx.defs.get_all_schemas_with_history():
        if schema.domain != ML:
            continue
        kernels = REGISTRY.versions(schema.name, ML)
        if not any(k.covers(schema.since_version) for k in kernels):
            missing.append(f"{schema.name}-{schema.since_version}")
    assert missing == []


# ---- trees ----


def random_trees(rng, n_trees=4, depth=4, n_features=3, n_targets=2, modes=("BRANCH_LEQ",), missing=False):
    """Full binary trees in the (treeid, nodeid) format, node ids shuffled within each tree."""
    a = {k: [] for k in ("nodes_treeids", "nodes_nodeids", "nodes_featureids", "nodes_modes", "nodes_values",
                         "nodes_truenodeids", "nodes_falsenodeids", "nodes_missing_value_tracks_true",
                         "target_treeids", "target_nodeids", "target_ids", "target_weights")}
    for t in range(n_trees):
        n_nodes = 2 ** (depth + 1) - 1
        ids = rng.permutation(n_nodes) + 10 * t
        for i in range(n_nodes):
            leaf = i >= 2 ** depth - 1
            a["nodes_treeids"].append(t)
            a["nodes_nodeids"].append(int(ids[i]))
            a["nodes_featureids"].append(0 if leaf else int(rng.integers(n_features)))
            a["nodes_modes"].append("LEAF" if leaf else str(rng.choice(modes)))
            a["nodes_values"].append(0.0 if leaf else float(np.round(rng.normal() * 4) / 4))
            a["nodes_truenodeids"].append(0 if leaf else int(ids[2 * i + 1]))
            a["nodes_falsenodeids"].append(0 if leaf else int(ids[2 * i + 2]))
            a["nodes_missing_value_tracks_true"].append(int(missing and rng.random() < 0.5))
            if leaf:
                for k in range(n_targets):
                    a["target_treeids"].append(t)
                    a["target_nodeids"].append(int(ids[i]))
                    a["target_ids"].append(k)
                    a["target_weights"].append(float(rng.normal()))
    return a


def tree_inputs(rng, n=64, n_features=3):
    x = (np.round(rng.normal(size=(n, n_features)) * 4) / 4).astype(np.float32)  # exact ties with thresholds
    x[rng.random(x.shape) < 0.1] = np.nan
    return x


@pytest.mark.parametrize("aggregate", ["SUM", "AVERAGE", "MIN", "MAX"])
def test_tree_regressor_every_mode_with_nan_routing_matches_onnxruntime(aggregate):
    rng = np.random.default_rng(0)
    modes = ("BRANCH_LEQ", "BRANCH_LT", "BRANCH_GTE", "BRANCH_GT", "BRANCH_EQ", "BRANCH_NEQ")
    a = random_trees(rng, modes=modes, missing=True)
    model = ml_model("TreeEnsembleRegressor", [("X", F, [None, 3])], [("Y", F, [None, 2])], n_targets=2,
                     aggregate_function=aggregate, base_values=[0.5, -1.0], **a)
    assert_same(model, tree_inputs(rng))


@pytest.mark.parametrize("post", ["NONE", "SOFTMAX", "LOGISTIC", "SOFTMAX_ZERO"])
def test_tree_classifier_string_labels_and_post_transforms_match_onnxruntime(post):
    rng = np.random.default_rng(1)
    a = random_trees(rng, n_targets=3)
    cls = {k.replace("target_", "class_"): v for k, v in a.items() if k.startswith("target_")}
    nodes = {k: v for k, v in a.items() if k.startswith("nodes_")}
    model = ml_model("TreeEnsembleClassifier", [("X", F, [None, 3])], [("Y", S, [None]), ("Z", F, [None, 3])],
                     classlabels_strings=["a", "b", "c"], post_transform=post, base_values=[0.1, 0.2, 0.3],
                     **nodes, **cls)
    assert_same(model, tree_inputs(rng))


@pytest.mark.parametrize("post", ["NONE", "LOGISTIC"])
def test_binary_tree_classifier_with_one_class_of_weights_matches_onnxruntime(post):
    rng = np.random.default_rng(2)
    a = random_trees(rng, n_targets=1)
    cls = {k.replace("target_", "class_"): v for k, v in a.items() if k.startswith("target_")}
    if post == "NONE":
        cls["class_weights"] = [abs(w) / 4 for w in cls["class_weights"]]
    nodes = {k: v for k, v in a.items() if k.startswith("nodes_")}
    model = ml_model("TreeEnsembleClassifier", [("X", F, [None, 3])], [("Y", I64, [None]), ("Z", F, [None, 2])],
                     classlabels_int64s=[3, 7], post_transform=post, **nodes, **cls)
    assert_same(model, tree_inputs(rng))


def test_tree_attributes_as_double_tensors():
    rng = np.random.default_rng(3)
    a = random_trees(rng, n_targets=1)
    values = numpy_helper.from_array(np.asarray(a.pop("nodes_values"), np.float64), "v")
    weights = numpy_helper.from_array(np.asarray(a.pop("target_weights"), np.float64), "w")
    plain = random_trees(np.random.default_rng(3), n_targets=1)
    x = tree_inputs(rng).astype(np.float64)
    m_tensor = ml_model("TreeEnsembleRegressor", [("X", D, [None, 3])], [("Y", F, [None, 1])], n_targets=1,
                        nodes_values_as_tensor=values, target_weights_as_tensor=weights, **a)
    m_plain = ml_model("TreeEnsembleRegressor", [("X", D, [None, 3])], [("Y", F, [None, 1])], n_targets=1, **plain)
    np.testing.assert_allclose(ours(m_tensor, x)[0], ours(m_plain, x)[0], rtol=1e-6, atol=1e-6)


def to_v5(a, n_targets):
    """The same ensemble in TreeEnsemble's (ml opset 5) node/leaf layout."""
    key = {(t, n): i for i, (t, n) in enumerate(zip(a["nodes_treeids"], a["nodes_nodeids"]))}
    branch = [i for i, m in enumerate(a["nodes_modes"]) if m != "LEAF"]
    leaves = [i for i, m in enumerate(a["nodes_modes"]) if m == "LEAF"]
    bpos = {i: k for k, i in enumerate(branch)}
    codes = {"BRANCH_LEQ": 0, "BRANCH_LT": 1, "BRANCH_GTE": 2, "BRANCH_GT": 3, "BRANCH_EQ": 4, "BRANCH_NEQ": 5}
    leaf_rows, lpos = [], {}
    for i in leaves:
        for t, n, k, w in zip(a["target_treeids"], a["target_nodeids"], a["target_ids"], a["target_weights"]):
            if key[t, n] == i:
                lpos.setdefault(i, len(leaf_rows))
                leaf_rows.append((k, w))
    assert n_targets == 1  # one weight per leaf in this layout

    def child(i, side):
        c = key[a["nodes_treeids"][i], a[f"nodes_{side}nodeids"][i]]
        return (1, lpos[c]) if c in lpos else (0, bpos[c])

    tc, fc = [child(i, "true") for i in branch], [child(i, "false") for i in branch]
    roots = [bpos[i] for i in branch if a["nodes_nodeids"][i] not in
             {a["nodes_truenodeids"][j] for j in branch if a["nodes_treeids"][j] == a["nodes_treeids"][i]} |
             {a["nodes_falsenodeids"][j] for j in branch if a["nodes_treeids"][j] == a["nodes_treeids"][i]}]
    return dict(
        nodes_splits=numpy_helper.from_array(np.asarray([a["nodes_values"][i] for i in branch], np.float32), "s"),
        nodes_featureids=[a["nodes_featureids"][i] for i in branch],
        nodes_modes=numpy_helper.from_array(np.asarray([codes[a["nodes_modes"][i]] for i in branch], np.uint8), "m"),
        nodes_truenodeids=[c for _, c in tc], nodes_trueleafs=[f for f, _ in tc],
        nodes_falsenodeids=[c for _, c in fc], nodes_falseleafs=[f for f, _ in fc],
        nodes_missing_value_tracks_true=[a["nodes_missing_value_tracks_true"][i] for i in branch],
        leaf_targetids=[k for k, _ in leaf_rows],
        leaf_weights=numpy_helper.from_array(np.asarray([w for _, w in leaf_rows], np.float32), "w"),
        tree_roots=roots, n_targets=n_targets,
    )


def test_tree_ensemble_v5_agrees_with_the_v3_regressor():
    rng = np.random.default_rng(4)
    modes = ("BRANCH_LEQ", "BRANCH_LT", "BRANCH_GTE", "BRANCH_GT", "BRANCH_EQ", "BRANCH_NEQ")
    a = random_trees(rng, n_targets=1, modes=modes, missing=True)
    x = tree_inputs(rng)
    v3 = ml_model("TreeEnsembleRegressor", [("X", F, [None, 3])], [("Y", F, [None, 1])], n_targets=1, **a)
    v5 = ml_model("TreeEnsemble", [("X", F, [None, 3])], [("Y", F, [None, 1])], ml_opset=5, **to_v5(a, 1))
    np.testing.assert_allclose(ours(v5, x)[0], ours(v3, x)[0], rtol=1e-6, atol=1e-6)
    assert_same(v5, x)


def test_tree_with_a_cycle_is_a_clear_error():
    a = dict(nodes_treeids=[0, 0], nodes_nodeids=[0, 1], nodes_featureids=[0, 0], nodes_values=[0.0, 0.0],
             nodes_modes=["BRANCH_LEQ", "BRANCH_LEQ"], nodes_truenodeids=[1, 0], nodes_falsenodeids=[1, 0],
             target_treeids=[0], target_nodeids=[1], target_ids=[0], target_weights=[1.0])
    with pytest.raises(ValueError, match="cycle|root"):
        REGISTRY.versions("TreeEnsembleRegressor", ML)[-1].fn(n_targets=1, **a)


# ---- linear models and SVMs ----


@pytest.mark.parametrize("post", ["NONE", "LOGISTIC", "SOFTMAX", "SOFTMAX_ZERO", "PROBIT"])
def test_linear_classifier_post_transforms_match_onnxruntime(post):
    rng = np.random.default_rng(6)
    x = rng.normal(size=(20, 4)).astype(np.float32) / (3 if post == "PROBIT" else 1)
    coef = rng.normal(size=12) / (8 if post == "PROBIT" else 1)
    model = ml_model("LinearClassifier", [("X", F, [None, 4])], [("Y", I64, [None]), ("Z", F, [None, 3])],
                     coefficients=coef.tolist(), intercepts=[0.1, 0.0, -0.1], classlabels_ints=[5, 6, 7],
                     post_transform=post)
    assert_same(model, x, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("labels", [{"classlabels_ints": [0, 1]}, {"classlabels_strings": ["no", "yes"]}])
def test_linear_classifier_with_one_score_row_is_binary(labels):
    rng = np.random.default_rng(7)
    x = rng.normal(size=(15, 3)).astype(np.float32)
    y_type = S if "classlabels_strings" in labels else I64
    model = ml_model("LinearClassifier", [("X", F, [None, 3])], [("Y", y_type, [None]), ("Z", F, [None, 2])],
                     coefficients=[1.0, -2.0, 0.5], intercepts=[0.2], post_transform="LOGISTIC", **labels)
    assert_same(model, x)


def test_linear_regressor_several_targets():
    rng = np.random.default_rng(8)
    x = rng.normal(size=(10, 3)).astype(np.float32)
    model = ml_model("LinearRegressor", [("X", F, [None, 3])], [("Y", F, [None, 2])],
                     coefficients=rng.normal(size=6).tolist(), intercepts=[1.0, -1.0], targets=2)
    assert_same(model, x)


@pytest.mark.parametrize("kernel", ["LINEAR", "POLY", "RBF", "SIGMOID"])
@pytest.mark.parametrize("n_classes", [2, 3])
def test_svm_classifier_without_probabilities_matches_onnxruntime(kernel, n_classes):
    rng = np.random.default_rng(9)
    per_class = [2, 3, 2][:n_classes]
    n_sv = sum(per_class)
    x = rng.normal(size=(30, 4)).astype(np.float32)
    model = ml_model(
        "SVMClassifier", [("X", F, [None, 4])],
        [("Y", I64, [None]), ("Z", F, [None, 2 if n_classes == 2 else 3])],
        classlabels_ints=list(range(n_classes)), vectors_per_class=per_class, kernel_type=kernel,
        kernel_params=[0.3, 0.1, 2.0], support_vectors=rng.normal(size=n_sv * 4).tolist(),
        coefficients=rng.normal(size=(n_classes - 1) * n_sv).tolist(),
        rho=rng.normal(size=n_classes * (n_classes - 1) // 2).tolist(),
    )
    assert_same(model, x, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kernel", ["RBF", "POLY"])
def test_svm_regressor_matches_onnxruntime(kernel):
    rng = np.random.default_rng(10)
    x = rng.normal(size=(25, 3)).astype(np.float32)
    model = ml_model("SVMRegressor", [("X", F, [None, 3])], [("Y", F, [None, 1])], kernel_type=kernel,
                     kernel_params=[0.5, 0.2, 3.0], n_supports=4, support_vectors=rng.normal(size=12).tolist(),
                     coefficients=rng.normal(size=4).tolist(), rho=[0.3])
    assert_same(model, x, rtol=1e-4, atol=1e-5)


def test_one_class_svm_regressor_gives_plus_or_minus_one():
    rng = np.random.default_rng(11)
    x = rng.normal(size=(25, 3)).astype(np.float32)
    model = ml_model("SVMRegressor", [("X", F, [None, 3])], [("Y", F, [None, 1])], kernel_type="RBF",
                     kernel_params=[0.5, 0.0, 0.0], n_supports=3, support_vectors=rng.normal(size=9).tolist(),
                     coefficients=[1.0, 1.0, 1.0], rho=[-1.2], one_class=1)
    (y,) = assert_same(model, x)
    assert set(np.unique(y)) <= {-1.0, 1.0}


# ---- preprocessing ----


def test_scaler_normalizer_binarizer_imputer_match_onnxruntime():
    rng = np.random.default_rng(12)
    x = rng.normal(size=(8, 3)).astype(np.float32)
    assert_same(ml_model("Scaler", [("X", F, [None, 3])], [("Y", F, [None, 3])], offset=[1.0, 0.0, -1.0],
                         scale=[2.0, 0.5, 1.0]), x)
    for norm in ("MAX", "L1", "L2"):
        assert_same(ml_model("Normalizer", [("X", F, [None, 3])], [("Y", F, [None, 3])], norm=norm), np.abs(x))
    assert_same(ml_model("Binarizer", [("X", F, [None, 3])], [("Y", F, [None, 3])], threshold=0.2), x)
    xn = x.copy()
    xn[::2, 1] = np.nan
    assert_same(ml_model("Imputer", [("X", F, [None, 3])], [("Y", F, [None, 3])],
                         imputed_value_floats=[7.0, 8.0, 9.0], replaced_value_float=float("nan")), xn)


def test_imputer_on_int64():
    x = np.array([[1, 0, 3], [0, 5, 0]], np.int64)
    model = ml_model("Imputer", [("X", I64, [None, 3])], [("Y", I64, [None, 3])], imputed_value_int64s=[9],
                     replaced_value_int64=0)
    np.testing.assert_array_equal(ours(model, x)[0], [[1, 9, 3], [9, 5, 9]])


def test_array_feature_extractor_and_feature_vectorizer():
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    afe = ml_model("ArrayFeatureExtractor", [("X", F, [None, 4]), ("I", I64, [None])], [("Y", F, None)])
    assert_same(afe, x, np.array([3, 0], np.int64))
    with pytest.raises(Exception, match="out of range"):
        ours(afe, x, np.array([4], np.int64))
    # the inputs share type T1 (onnxruntime refuses a float A with an int64 B)
    fv = ml_model("FeatureVectorizer", [("A", F, [None, 4]), ("B", F, [None, 1])], [("Y", F, [None, 6])],
                  inputdimensions=[3, 3])
    (y,) = ours(fv, x, np.array([[1], [2], [3]], np.float32))
    np.testing.assert_array_equal(y, [[0, 1, 2, 1, 0, 0], [4, 5, 6, 2, 0, 0], [8, 9, 10, 3, 0, 0]])


# ---- encoders and maps ----


def test_label_encoder_float_keys_match_nan_and_use_default_float():
    model = ml_model("LabelEncoder", [("X", F, [None])], [("Y", I64, [None])], ml_opset=4,
                     keys_floats=[1.5, float("nan"), 3.0], values_int64s=[10, 20, 30], default_int64=-7)
    (y,) = ours(model, np.array([3.0, np.nan, 1.5, 2.0], np.float32))
    np.testing.assert_array_equal(y, [30, 20, 10, -7])


def test_label_encoder_int_to_string_and_v1():
    m2 = ml_model("LabelEncoder", [("X", I64, [None])], [("Y", S, [None])], ml_opset=2, keys_int64s=[4, 2],
                  values_strings=["four", "two"], default_string="?")
    assert_same(m2, np.array([2, 4, 5], np.int64))
    m1 = ml_model("LabelEncoder", [("X", S, [None])], [("Y", I64, [None])], ml_opset=1,
                  classes_strings=["x", "y"], default_int64=99)
    np.testing.assert_array_equal(ours(m1, np.array(["y", "z", "x"], dtype=object))[0], [1, 99, 0])


def test_label_encoder_tensor_values_without_default_tensor_use_the_spec_default():
    keys = numpy_helper.from_array(np.array([1, 2], np.int64), "k")
    values = numpy_helper.from_array(np.array([0.5, 1.5], np.float64), "v")
    model = ml_model("LabelEncoder", [("X", I64, [None])], [("Y", D, [None])], ml_opset=4, keys_tensor=keys,
                     values_tensor=values)
    (y,) = ours(model, np.array([2, 3, 1], np.int64))
    assert y.dtype == np.float64
    np.testing.assert_array_equal(y, [1.5, -0.0, 0.5])


def test_category_mapper_both_directions():
    attrs = dict(cats_strings=["a", "b"], cats_int64s=[7, 9], default_int64=-1, default_string="none")
    to_int = ml_model("CategoryMapper", [("X", S, [None])], [("Y", I64, [None])], **attrs)
    to_str = ml_model("CategoryMapper", [("X", I64, [None])], [("Y", S, [None])], **attrs)
    assert_same(to_int, np.array(["b", "c", "a"], dtype=object))
    assert_same(to_str, np.array([9, 8, 7], np.int64))


def test_one_hot_encoder_ints_and_unknowns():
    model = ml_model("OneHotEncoder", [("X", I64, [None, 2])], [("Y", F, [None, 2, 3])], cats_int64s=[1, 2, 3])
    assert_same(model, np.array([[1, 3], [2, 5]], np.int64))
    strict = ml_model("OneHotEncoder", [("X", S, [None])], [("Y", F, [None, 2])], cats_strings=["a", "b"], zeros=0)
    with pytest.raises(Exception, match="no category"):
        ours(strict, np.array(["a", "c"], dtype=object))


def test_zipmap_int_labels_gives_a_list_of_dicts():
    node = helper.make_node("ZipMap", ["X"], ["Z"], domain=ML, classlabels_int64s=[10, 20])
    seq_map = helper.make_sequence_type_proto(helper.make_map_type_proto(I64, helper.make_tensor_type_proto(F, [])))
    graph = helper.make_graph([node], "z", [helper.make_tensor_value_info("X", F, [None, 2])],
                              [helper.make_value_info("Z", seq_map)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid(ML, 1)])
    (z,) = ours(model, np.array([[0.25, 0.75], [1.0, 0.0]], np.float32))
    assert z == [{10: 0.25, 20: 0.75}, {10: 1.0, 20: 0.0}]


def test_dict_vectorizer_and_cast_map_kernels_on_dicts():
    y = encoders.DictVectorizer({"b": 2.0, "z": 5.0}, string_vocabulary=["a", "b"])
    np.testing.assert_array_equal(y, [[0.0, 2.0]])
    y = encoders.DictVectorizer([{1: 3}, {2: 4}], int64_vocabulary=[2, 1])
    np.testing.assert_array_equal(y, [[0, 3], [4, 0]])
    np.testing.assert_array_equal(encoders.CastMap({3: "1.5", 1: "2"}), [[2.0, 1.5]])
    np.testing.assert_array_equal(encoders.CastMap({3: 1.5, 1: 2.0}, map_form="SPARSE", max_map=4, cast_to="TO_INT64"),
                                  [[0, 2, 0, 1]])
    with pytest.raises(ValueError, match="max_map"):
        encoders.CastMap({7: 1.0}, map_form="SPARSE", max_map=4)


def test_dict_vectorizer_reads_the_value_type_from_the_graph():
    map_type = helper.make_map_type_proto(S, helper.make_tensor_type_proto(D, []))
    node = helper.make_node("DictVectorizer", ["X"], ["Y"], domain=ML, string_vocabulary=["a", "b"])
    g = helper.make_graph([node], "g", [helper.make_value_info("X", map_type)],
                          [helper.make_tensor_value_info("Y", D, None)])
    graph = Graph(g, {"": 17, ML: 1})
    y = encoders.DictVectorizer({"a": 1.25}, string_vocabulary=["a", "b"], _graph=graph, _node=graph.nodes[0])
    assert y.dtype == np.float64


def test_dict_vectorizer_model_takes_a_map_input():
    map_type = helper.make_map_type_proto(S, helper.make_tensor_type_proto(F, []))
    node = helper.make_node("DictVectorizer", ["X"], ["Y"], domain=ML, string_vocabulary=["a", "b"])
    g = helper.make_graph([node], "g", [helper.make_value_info("X", map_type)],
                          [helper.make_tensor_value_info("Y", F, None)])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid(ML, 1)])
    np.testing.assert_array_equal(ours(model, {"b": 2.0})[0], [[0.0, 2.0]])
