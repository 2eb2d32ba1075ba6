"""CPU kernels of providers/cpu/sequence.py and string.py: sequence ops, SplitToSequence, StringNormalizer."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto

from tests.helpers.kernels import check, run_kernel

ort = pytest.importorskip("onnxruntime")

rng = np.random.default_rng(1243)


def randn(*shape, dtype=np.float32):
    return rng.standard_normal(shape).astype(dtype)


def test_sequence_ops():
    a, b, c = randn(2, 3), randn(1, 3), randn(4, 3)
    seq = run_kernel("SequenceConstruct", [a, b])[0]
    assert isinstance(seq, list) and len(seq) == 2
    seq2 = run_kernel("SequenceInsert", [seq, c, np.array(1, np.int64)])[0]
    assert [t.shape[0] for t in seq2] == [2, 4, 1] and len(seq) == 2  # the input is not changed
    assert run_kernel("SequenceAt", [seq2, np.array(-1, np.int64)])[0] is b
    assert int(run_kernel("SequenceLength", [seq2])[0]) == 3
    seq3 = run_kernel("SequenceErase", [seq2])[0]
    assert [t.shape[0] for t in seq3] == [2, 4]
    cat = run_kernel("ConcatFromSequence", [seq2], {"axis": 0})[0]
    np.testing.assert_array_equal(cat, np.concatenate([a, c, b]))
    stacked = run_kernel("ConcatFromSequence", [[a, a]], {"axis": -1, "new_axis": 1})[0]
    assert stacked.shape == (2, 3, 2)
    assert run_kernel("SequenceEmpty", [], {"dtype": TensorProto.FLOAT})[0] == []


def test_sequence_at_out_of_range_is_a_clear_error():
    with pytest.raises(ValueError, match="SequenceAt: position 2 is out of range"):
        run_kernel("SequenceAt", [[randn(1), randn(1)], np.array(2, np.int64)])


@pytest.mark.parametrize("split,keepdims,sizes", [(None, 1, [1] * 5), (None, 0, [1] * 5),
                                                  (np.array(2, np.int64), 1, [2, 2, 1]),
                                                  (np.array([1, 4], np.int64), 1, [1, 4])])
def test_split_to_sequence(split, keepdims, sizes):
    x = randn(3, 5)
    parts = run_kernel("SplitToSequence", [x, split], {"axis": 1, "keepdims": keepdims})[0]
    assert [p.shape[1] if p.ndim == 2 else 1 for p in parts] == sizes
    if not keepdims:
        assert parts[0].shape == (3,)
    np.testing.assert_array_equal(np.concatenate([p.reshape(3, -1) for p in parts], axis=1), x)


@pytest.mark.parametrize("attrs", [
    {"case_change_action": "LOWER", "stopwords": ["monday"], "is_case_sensitive": 1},
    {"case_change_action": "UPPER", "stopwords": ["MONDAY"]},
    {"case_change_action": "NONE"},
    {"stopwords": ["monday", "Tuesday"], "is_case_sensitive": 0},
])
def test_string_normalizer_matches_onnxruntime(attrs):
    x = np.array(["Monday", "tuesday", "WEDNESDAY", "monday"], dtype=object)
    attrs = dict(attrs, locale="C")  # onnxruntime needs an installed locale for its case folding
    check("StringNormalizer", [x], attrs, opset=10)
    check("StringNormalizer", [x.reshape(1, -1)], attrs, opset=10)


def test_string_normalizer_all_removed_gives_one_empty_string():
    x = np.array(["monday", "monday"], dtype=object)
    check("StringNormalizer", [x], {"stopwords": ["monday"], "locale": "C"}, opset=10)


@pytest.mark.parametrize("fmod,dtype", [(0, np.int64), (1, np.int32), (1, np.float32), (0, np.float32)])
def test_mod_follows_the_divisor_or_dividend_sign(fmod, dtype):
    a = np.array([7, -7, 7, -7, 5], dtype)
    b = np.array([3, 3, -3, -3, 5], dtype)
    want = np.fmod(a, b) if fmod else np.mod(a, b)
    np.testing.assert_array_equal(run_kernel("Mod", [a, b], {"fmod": fmod}, opset=13)[0], want)


def test_dropout_with_seed_is_reproducible():
    x = randn(10, 10)
    args = ([x, np.array(0.5, np.float32), np.array(True)], {"seed": 3})
    a = run_kernel("Dropout", *args, opset=13, n_outputs=2)
    b = run_kernel("Dropout", *args, opset=13, n_outputs=2)
    np.testing.assert_array_equal(a[1], b[1])


def test_activations_keep_bfloat16():
    ml_dtypes = pytest.importorskip("ml_dtypes")
    x = randn(4).astype(ml_dtypes.bfloat16)
    for op, attrs in (("Celu", {}), ("Elu", {}), ("Sigmoid", {}), ("Softplus", {}), ("LeakyRelu", {})):
        assert run_kernel(op, [x], attrs, opset=18)[0].dtype == x.dtype, op
