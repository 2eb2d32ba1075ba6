"""CPU tensor-family kernels: index ops (GatherND, Scatter*, TensorScatter, Compress, NonZero, OneHot),
matrix structure (Trilu, EyeLike, Det, Einsum), running reductions and TopK, Unique, ReverseSequence,
BitCast, NonMaxSuppression, the random generators (checked by statistics) and the training optimizers."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from ep_runtime import InferenceSession
from providers.cpu import REGISTRY, detection, einsum, linalg, random, reduce, scatter_gather, tensor, training
from tests.helpers.kernels import kernel_for
from tests.helpers.models import I64, F, make_model


def run_model(model: onnx.ModelProto, feed: dict) -> list:
    return InferenceSession(model, providers=["cpu"]).run(None, feed)


# --------------------------------------------------------------------------- registration


@pytest.mark.parametrize("op, domain", [
    ("GatherND", ""), ("ScatterND", ""), ("ScatterElements", ""), ("Scatter", ""), ("TensorScatter", ""),
    ("Compress", ""), ("NonZero", ""), ("OneHot", ""), ("Trilu", ""), ("EyeLike", ""), ("Det", ""),
    ("Einsum", ""), ("CumSum", ""), ("CumProd", ""), ("TopK", ""), ("Unique", ""), ("ReverseSequence", ""),
    ("BitCast", ""), ("NonMaxSuppression", ""), ("RandomUniform", ""), ("RandomNormal", ""),
    ("RandomUniformLike", ""), ("RandomNormalLike", ""), ("Bernoulli", ""), ("Multinomial", ""),
    ("Adagrad", "ai.onnx.preview.training"), ("Adam", "ai.onnx.preview.training"),
    ("Momentum", "ai.onnx.preview.training"),
])
def test_every_schema_version_has_a_kernel(op, domain):
    versions = {s.since_version for s in onnx.defs.get_all_schemas_with_history()
                if s.name == op and s.domain == domain}
    for v in versions:
        assert any(k.covers(v) for k in REGISTRY.versions(op, domain)), f"{op} version {v} has no kernel"


# --------------------------------------------------------------------------- gather / scatter


def test_gather_nd_with_batch_dims_and_negative_indices():
    data = np.arange(24).reshape(2, 3, 4)
    idx = np.array([[[0, -1]], [[2, 1]]])
    out = scatter_gather.gather_nd(data, idx, batch_dims=1)
    np.testing.assert_array_equal(out, [[data[0, 0, 3]], [data[1, 2, 1]]])
    with pytest.raises(ValueError, match="out of range"):
        scatter_gather.gather_nd(data, np.array([[5]]))


def test_scatter_nd_reductions_combine_duplicates_and_leave_data_alone():
    data = np.ones((3, 2), np.float32)
    idx = np.array([[1], [1], [-1]])
    upd = np.full((3, 2), 2, np.float32)
    np.testing.assert_array_equal(scatter_gather.scatter_nd(data, idx, upd, "add"), [[1, 1], [5, 5], [3, 3]])
    np.testing.assert_array_equal(scatter_gather.scatter_nd(data, idx, upd, "mul"), [[1, 1], [4, 4], [2, 2]])
    np.testing.assert_array_equal(scatter_gather.scatter_nd(data, idx, upd), [[1, 1], [2, 2], [2, 2]])
    assert (data == 1).all()
    with pytest.raises(ValueError, match="updates of shape"):
        scatter_gather.scatter_nd(data, idx, upd[:2])


def test_scatter_elements_axis_and_reduction():
    data = np.zeros((2, 3), np.int64)
    idx = np.array([[2, 2], [0, -3]])
    upd = np.array([[5, 7], [1, 4]])
    out = scatter_gather.scatter_elements(data, idx, upd, axis=-1, reduction="max")
    np.testing.assert_array_equal(out, [[0, 0, 7], [4, 0, 0]])
    out = kernel_for("Scatter", 9).fn(data, np.array([[1, 0, 1]]), np.array([[1, 2, 3]]), axis=0)
    np.testing.assert_array_equal(out, [[0, 2, 0], [1, 0, 3]])
    with pytest.raises(ValueError, match="opset 18"):
        kernel_for("ScatterElements", 16).fn(data, idx, upd, reduction="min")


def test_tensor_scatter_linear_and_circular():
    cache = np.zeros((2, 4, 1), np.float32)
    upd = np.array([[[1], [2]], [[3], [4]]], np.float32)
    out = scatter_gather.TensorScatter(cache, upd, np.array([1, 3]), mode="circular")
    np.testing.assert_array_equal(out[..., 0], [[0, 1, 2, 0], [4, 0, 0, 3]])
    out = scatter_gather.TensorScatter(cache, upd)
    np.testing.assert_array_equal(out[..., 0], [[1, 2, 0, 0], [3, 4, 0, 0]])
    with pytest.raises(ValueError, match="overflows"):
        scatter_gather.TensorScatter(cache, upd, np.array([0, 3]))


def test_compress_nonzero_onehot():
    x = np.arange(6).reshape(3, 2)
    np.testing.assert_array_equal(scatter_gather.Compress(x, np.array([0, 1]), axis=-1), [[1], [3], [5]])
    np.testing.assert_array_equal(scatter_gather.Compress(x, np.array([1, 0, 1])), [0, 2])
    np.testing.assert_array_equal(scatter_gather.NonZero(np.array([[0, 3], [2, 0]])), [[0, 1], [1, 0]])
    assert scatter_gather.NonZero(np.array(5)).shape == (0, 1)
    values = np.array([0, 9], np.float32)
    out = scatter_gather.OneHot(np.array([1, -1, 7]), np.array(3), values, axis=0)
    np.testing.assert_array_equal(out, [[0, 0, 0], [9, 0, 0], [0, 9, 0]])
    legacy = kernel_for("OneHot", 9).fn(np.array([-1]), np.array([3.0]), values)
    np.testing.assert_array_equal(legacy, [[0, 0, 0]])


# --------------------------------------------------------------------------- matrix structure


def test_trilu_eyelike_det_einsum():
    x = np.arange(1, 10, dtype=np.float32).reshape(3, 3)
    np.testing.assert_array_equal(linalg.Trilu(x, np.array(1)), np.triu(x, 1))
    np.testing.assert_array_equal(linalg.Trilu(x, upper=0), np.tril(x))
    eye = linalg.EyeLike(np.zeros((2, 3), np.int32), dtype=TensorProto.FLOAT, k=1)
    assert eye.dtype == np.float32
    np.testing.assert_array_equal(eye, [[0, 1, 0], [0, 0, 1]])
    batch = np.stack([np.eye(2) * 2, [[1, 2], [3, 4]]]).astype(np.float32)
    np.testing.assert_allclose(linalg.Det(batch), [4, -2], rtol=1e-6)
    assert linalg.Det(batch).dtype == np.float32
    a = np.arange(6, dtype=np.float16).reshape(2, 3)
    r = einsum.Einsum(a, a, equation="ij, kj -> ik")
    assert r.dtype == np.float16
    np.testing.assert_allclose(r, a.astype(np.float32) @ a.T.astype(np.float32))


# --------------------------------------------------------------------------- running reductions, TopK


def test_cumsum_cumprod_exclusive_reverse():
    x = np.array([1, 2, 3, 4], np.int32)
    np.testing.assert_array_equal(reduce.CumSum(x, np.array(0), exclusive=1), [0, 1, 3, 6])
    np.testing.assert_array_equal(reduce.CumSum(x, np.array(0), reverse=1), [10, 9, 7, 4])
    np.testing.assert_array_equal(reduce.CumProd(x, np.array(-1), exclusive=1, reverse=1), [24, 12, 4, 1])
    assert reduce.CumSum(x, np.array(0)).dtype == np.int32
    assert reduce.CumSum(np.zeros((2, 0)), np.array(1), exclusive=1).shape == (2, 0)


def test_topk_ties_take_the_lower_index_first():
    x = np.array([[3, 1, 3, 2]], np.uint64)
    values, idx = reduce.TopK(x, np.array([3]))
    np.testing.assert_array_equal(values, [[3, 3, 2]])
    np.testing.assert_array_equal(idx, [[0, 2, 3]])
    values, idx = reduce.TopK(x, np.array([2]), largest=0)
    np.testing.assert_array_equal(idx, [[1, 3]])
    values, idx = kernel_for("TopK", 1).fn(x.astype(np.float32), k=1, axis=1)
    assert idx.dtype == np.int64 and idx.tolist() == [[0]]
    with pytest.raises(ValueError, match="out of range"):
        reduce.TopK(x, np.array([5]))


# --------------------------------------------------------------------------- Unique, ReverseSequence, BitCast


def test_unique_sorted_and_in_first_occurrence_order():
    x = np.array([2, 1, 1, 3, 4, 3], np.float32)
    y, first, inverse, counts = tensor.unique(x, None, True, 4)
    np.testing.assert_array_equal(y, [1, 2, 3, 4])
    np.testing.assert_array_equal(y[inverse], x)
    y, first, inverse, counts = tensor.unique(x, None, False, 4)
    np.testing.assert_array_equal(y, [2, 1, 3, 4])
    np.testing.assert_array_equal(first, [0, 1, 3, 4])
    np.testing.assert_array_equal(counts, [1, 2, 2, 1])
    np.testing.assert_array_equal(y[inverse], x)
    rows = np.array([[1, 0], [1, 0], [0, 1]])
    y, = tensor.unique(rows, 0, True, 1)
    np.testing.assert_array_equal(y, [[0, 1], [1, 0]])


def test_reverse_sequence_both_layouts():
    x = np.arange(12).reshape(4, 3)  # time-major: (time, batch)
    out = tensor.ReverseSequence(x, np.array([4, 1, 2]))
    np.testing.assert_array_equal(out[:, 0], [9, 6, 3, 0])
    np.testing.assert_array_equal(out[:, 1], [1, 4, 7, 10])
    np.testing.assert_array_equal(out[:, 2], [5, 2, 8, 11])
    out_bm = tensor.ReverseSequence(x.T, np.array([4, 1, 2]), batch_axis=0, time_axis=1)
    np.testing.assert_array_equal(out_bm, out.T)
    with pytest.raises(ValueError, match="sequence_lens"):
        tensor.ReverseSequence(x, np.array([5, 1, 1]))


def test_bitcast_reinterprets_bits():
    x = np.array([1.0, -2.0], np.float32)
    bits = tensor.BitCast(x, to=TensorProto.INT32)
    assert bits.dtype == np.int32 and bits[0] == 0x3F800000
    np.testing.assert_array_equal(tensor.BitCast(bits, to=TensorProto.FLOAT), x)
    assert tensor.BitCast(np.array(1.0, np.float32), to=TensorProto.UINT32).shape == ()
    with pytest.raises(ValueError, match="width"):
        tensor.BitCast(x, to=TensorProto.INT64)


# --------------------------------------------------------------------------- NonMaxSuppression


def test_non_max_suppression_greedy_per_class():
    boxes = np.array([[[0, 0, 1, 1], [0, 0.1, 1, 1.1], [0, 10, 1, 11], [1, 1, 0, 0]]], np.float32)
    scores = np.array([[[0.9, 0.8, 0.7, 0.1], [0.1, 0.2, 0.3, 0.95]]], np.float32)
    out = detection.NonMaxSuppression(boxes, scores, np.array([3]), np.array([0.5]), np.array([0.15]))
    np.testing.assert_array_equal(out, [[0, 0, 0], [0, 0, 2], [0, 1, 3], [0, 1, 2]])  # box 1 overlaps box 3
    centers = np.array([[[0.5, 0.5, 1, 1], [0.6, 0.5, 1, 1]]], np.float32)
    out = detection.NonMaxSuppression(centers, scores[:, :, :2], np.array([2]), np.array([0.5]),
                                      center_point_box=1)
    np.testing.assert_array_equal(out, [[0, 0, 0], [0, 1, 1]])
    assert detection.NonMaxSuppression(boxes, scores).shape == (0, 3)


# --------------------------------------------------------------------------- random generators (statistics)

N = 200_000


def test_random_uniform_shape_dtype_range_and_moments():
    x = random.RandomUniform(shape=[N], low=-2.0, high=4.0, seed=3.0)
    assert x.shape == (N,) and x.dtype == np.float32
    assert x.min() >= -2 and x.max() < 4
    assert abs(x.mean() - 1.0) < 0.02 and abs(x.std() - 6 / np.sqrt(12)) < 0.02
    np.testing.assert_array_equal(x, random.RandomUniform(shape=[N], low=-2.0, high=4.0, seed=3.0))
    assert not np.array_equal(x, random.RandomUniform(shape=[N], low=-2.0, high=4.0, seed=4.0))
    d = random.RandomUniform(shape=[2, 3], dtype=TensorProto.DOUBLE)
    assert d.shape == (2, 3) and d.dtype == np.float64


def test_random_normal_moments_and_like_variants():
    x = random.RandomNormal(shape=[N], mean=5.0, scale=2.0, seed=1.0, dtype=TensorProto.DOUBLE)
    assert x.dtype == np.float64
    assert abs(x.mean() - 5.0) < 0.03 and abs(x.std() - 2.0) < 0.03
    like = random.RandomNormalLike(np.zeros((400, 500), np.float16), seed=2.0)
    assert like.shape == (400, 500) and like.dtype == np.float16
    assert abs(float(like.astype(np.float32).mean())) < 0.02
    ul = random.RandomUniformLike(np.zeros((N,), np.float32), low=1.0, high=2.0, dtype=TensorProto.DOUBLE)
    assert ul.dtype == np.float64 and ul.min() >= 1 and ul.max() < 2 and abs(ul.mean() - 1.5) < 0.01


def test_bernoulli_and_multinomial_frequencies():
    p = np.full(N, 0.3, np.float32)
    b = random.Bernoulli(p, seed=7.0)
    assert b.dtype == np.float32 and set(np.unique(b)) <= {0.0, 1.0}
    assert abs(b.mean() - 0.3) < 0.01
    np.testing.assert_array_equal(b, random.Bernoulli(p, seed=7.0))
    assert random.Bernoulli(p[:10], dtype=TensorProto.INT32).dtype == np.int32
    logits = np.log(np.array([[0.2, 0.5, 0.3]], np.float32))
    s = random.Multinomial(logits, sample_size=N, seed=5.0)
    assert s.shape == (1, N) and s.dtype == np.int32
    np.testing.assert_allclose(np.bincount(s[0], minlength=3) / N, [0.2, 0.5, 0.3], atol=0.01)


def test_seeded_random_node_is_reproducible_through_a_session():
    node = helper.make_node("RandomUniformLike", ["x"], ["y"], seed=11.0)
    model = make_model([node], [("x", F, [3, 4])], [("y", F, [3, 4])])
    x = np.zeros((3, 4), np.float32)
    a, = run_model(model, {"x": x})
    b, = run_model(model, {"x": x})
    assert a.shape == (3, 4) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)


# --------------------------------------------------------------------------- training optimizers


def test_momentum_and_nesterov_first_step_uses_gradient_coefficient_one():
    r, t = np.array(0.1, np.float32), np.array(0, np.int64)
    x, g, v = (np.array([1.0], np.float32), np.array([2.0], np.float32), np.array([0.5], np.float32))
    x_new, v_new = training.Momentum(r, t, x, g, v, alpha=0.9, beta=0.5, mode="standard", norm_coefficient=0.0)
    np.testing.assert_allclose(v_new, [0.9 * 0.5 + 2.0])
    np.testing.assert_allclose(x_new, [1.0 - 0.1 * 2.45])
    x_new, _ = training.Momentum(r, t, x, g, v, alpha=0.9, beta=0.5, mode="nesterov", norm_coefficient=0.0)
    np.testing.assert_allclose(x_new, [1.0 - 0.1 * (2.0 + 0.9 * 2.45)], rtol=1e-6)


def test_adam_and_adagrad_match_their_formulas():
    r, t = np.array(0.1, np.float32), np.array(1, np.int64)
    x, g = np.array([1.0], np.float32), np.array([0.5], np.float32)
    v, h = np.zeros(1, np.float32), np.zeros(1, np.float32)
    x_new, v_new, h_new = training.Adam(r, t, x, g, v, h, epsilon=0.0)
    np.testing.assert_allclose(v_new, [0.05], rtol=1e-6)
    np.testing.assert_allclose(h_new, [0.00025], rtol=1e-5)
    lr = 0.1 * np.sqrt(1 - 0.999) / (1 - 0.9)
    np.testing.assert_allclose(x_new, [1.0 - lr * 0.05 / np.sqrt(0.00025)], rtol=1e-5)
    x_new, h_new = training.Adagrad(r, t, x, g, h, decay_factor=1.0, epsilon=0.0)
    np.testing.assert_allclose(h_new, [0.25])
    np.testing.assert_allclose(x_new, [1.0 - 0.05 * 0.5 / 0.5])
    with pytest.raises(ValueError, match="inputs per optimized tensor"):
        training.Adagrad(r, t, x, g)


def test_opset_selects_onehot_negative_index_semantics():
    def model(opset):
        node = helper.make_node("OneHot", ["i", "d", "v"], ["y"])
        return make_model([node], [("i", I64, [1]), ("d", I64, []), ("v", F, [2])], [("y", F, None)], opset=opset)

    feed = {"i": np.array([-1]), "d": np.array(3), "v": np.array([0, 1], np.float32)}
    np.testing.assert_array_equal(run_model(model(10), feed)[0], [[0, 0, 0]])
    np.testing.assert_array_equal(run_model(model(11), feed)[0], [[0, 0, 1]])


def test_gather_elements_rejects_out_of_range_negative_indices():
    data = np.arange(8, dtype=np.float32).reshape(2, 4)
    np.testing.assert_array_equal(tensor.GatherElements(data, np.array([[-1], [-4]]), axis=1), [[3], [4]])
    with pytest.raises(ValueError, match="GatherElements: an index .* out of range"):
        tensor.GatherElements(data, np.array([[-7], [0]]), axis=1)
