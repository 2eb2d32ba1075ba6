"""Real scikit-learn models converted by skl2onnx run on the CPU provider and agree with scikit-learn:
exact labels, probabilities and regression outputs within float32 tolerance."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

skl2onnx = pytest.importorskip("skl2onnx")
pytest.importorskip("sklearn")

from skl2onnx.common.data_types import DictionaryType, FloatTensorType, StringTensorType  # noqa: E402
from sklearn.cluster import KMeans  # noqa: E402
from sklearn.datasets import make_classification, make_regression  # noqa: E402
from sklearn.ensemble import GradientBoostingClassifier, GradientBoostingRegressor, RandomForestClassifier  # noqa: E402
from sklearn.feature_extraction import DictVectorizer  # noqa: E402
from sklearn.linear_model import LinearRegression, LogisticRegression  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import Binarizer, Normalizer, OneHotEncoder, StandardScaler  # noqa: E402
from sklearn.svm import SVC, SVR  # noqa: E402
from sklearn.tree import DecisionTreeRegressor  # noqa: E402

import ep_runtime  # noqa: E402

RTOL, ATOL = 1e-4, 1e-5
OPSETS = {"": 17, "ai.onnx.ml": 3}


def classification(n_classes=3, seed=0):
    x, y = make_classification(300, 6, n_informative=4, n_redundant=1, n_classes=n_classes, random_state=seed)
    return x.astype(np.float32), y


def regression(seed=0):
    x, y = make_regression(300, 5, n_informative=4, noise=0.1, random_state=seed)
    return x.astype(np.float32), y


def run(model, x, options=None, initial_types=None):
    """Convert with skl2onnx and run every output on the CPU provider."""
    if initial_types is None:
        onx = skl2onnx.to_onnx(model, x[:1], options=options, target_opset=OPSETS)
    else:
        onx = skl2onnx.to_onnx(model, initial_types=initial_types, options=options, target_opset=OPSETS)
    sess = ep_runtime.InferenceSession(onx.SerializeToString(), providers=["cpu"])
    return sess.run(None, {sess.get_inputs()[0].name: x})


def check_classifier(model, x, zipmap=False):
    labels, probs = run(model, x, options=None if zipmap else {"zipmap": False})
    np.testing.assert_array_equal(labels, model.predict(x))
    if zipmap:
        assert isinstance(probs, list) and len(probs) == len(x) and all(isinstance(d, dict) for d in probs)
        assert list(probs[0]) == list(model.classes_)
        probs = np.array([[d[c] for c in model.classes_] for d in probs])
    np.testing.assert_allclose(probs, model.predict_proba(x), rtol=RTOL, atol=ATOL)


def test_scaler_and_logistic_regression_pipeline_with_zipmap_gives_a_list_of_dicts():
    x, y = classification()
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(x, y)
    check_classifier(model, x, zipmap=True)


def test_binary_logistic_regression():
    x, y = classification(n_classes=2, seed=1)
    check_classifier(LogisticRegression(max_iter=500).fit(x, y), x)


def test_random_forest_classifier():
    x, y = classification(seed=2)
    check_classifier(RandomForestClassifier(n_estimators=25, max_depth=7, random_state=0).fit(x, y), x)


def test_binary_gradient_boosting_classifier():
    x, y = classification(n_classes=2, seed=3)
    check_classifier(GradientBoostingClassifier(n_estimators=20, max_depth=3, random_state=0).fit(x, y), x)


def test_gradient_boosting_regressor():
    x, y = regression(seed=4)
    model = GradientBoostingRegressor(n_estimators=40, max_depth=3, random_state=0).fit(x, y)
    (pred,) = run(model, x)
    np.testing.assert_allclose(pred.ravel(), model.predict(x), rtol=RTOL, atol=1e-3)


def test_decision_tree_regressor():
    x, y = regression(seed=5)
    model = DecisionTreeRegressor(max_depth=8, random_state=0).fit(x, y)
    (pred,) = run(model, x)
    np.testing.assert_allclose(pred.ravel(), model.predict(x), rtol=RTOL, atol=1e-3)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_svc_with_probabilities(n_classes):
    x, y = classification(n_classes=n_classes, seed=6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # SVC(probability=True) is deprecated in sklearn 1.9
        model = SVC(probability=True, random_state=0).fit(x, y)
        check_classifier(model, x)


def test_svr_rbf():
    x, y = regression(seed=7)
    model = SVR(C=10.0).fit(x, y)
    (pred,) = run(model, x)
    np.testing.assert_allclose(pred.ravel(), model.predict(x), rtol=RTOL, atol=1e-3)


def test_kmeans_labels_and_distances():
    x, _ = classification(seed=8)
    model = KMeans(n_clusters=4, n_init=3, random_state=0).fit(x)
    labels, distances = run(model, x)
    np.testing.assert_array_equal(labels, model.predict(x))
    np.testing.assert_allclose(distances, model.transform(x), rtol=RTOL, atol=1e-4)


def test_one_hot_encoder_on_strings():
    rng = np.random.default_rng(9)
    x = np.stack([rng.choice(["red", "green", "blue"], 50), rng.choice(["s", "m", "l", "xl"], 50)], axis=1)
    model = OneHotEncoder(handle_unknown="ignore").fit(x)
    probe = np.concatenate([x, [["purple", "m"]]]).astype(object)
    (out,) = run(model, probe, initial_types=[("X", StringTensorType([None, 2]))])
    np.testing.assert_array_equal(out, model.transform(probe).toarray())


def test_linear_regression():
    x, y = regression(seed=10)
    model = LinearRegression().fit(x, y)
    (pred,) = run(model, x)
    np.testing.assert_allclose(pred.ravel(), model.predict(x), rtol=RTOL, atol=1e-3)


@pytest.mark.parametrize("norm", ["l1", "l2", "max"])
def test_normalizer(norm):
    x, _ = regression(seed=11)
    model = Normalizer(norm=norm).fit(x)
    (out,) = run(model, x)
    np.testing.assert_allclose(out, model.transform(x), rtol=RTOL, atol=ATOL)


def test_binarizer():
    x, _ = regression(seed=12)
    model = Binarizer(threshold=0.3).fit(x)
    (out,) = run(model, x)
    np.testing.assert_array_equal(out, model.transform(x))


def test_dict_vectorizer_takes_a_map():
    rows = [{"a": 1.0, "b": 2.0}, {"c": 3.0}, {"a": -1.0, "c": 0.5}]
    model = DictVectorizer(sparse=False).fit(rows)
    map_type = DictionaryType(StringTensorType([1]), FloatTensorType([1]))
    for row in rows:
        (out,) = run(model, row, initial_types=[("X", map_type)])
        np.testing.assert_allclose(out, model.transform([row]))
