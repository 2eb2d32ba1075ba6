"""Control flow (If, Loop, Scan, SequenceMap), optionals, strings and TfIdfVectorizer on the CPU
provider: hand-computed values, edge cases, error messages and version differences."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper

from ep_runtime import InferenceSession
from providers.cpu.optional import Optional, OptionalGetElement, OptionalHasElement
from providers.cpu.string import RegexFullMatch, StringConcat, StringSplit
from providers.cpu.text import TfIdfVectorizer

F, I64, B = TensorProto.FLOAT, TensorProto.INT64, TensorProto.BOOL


def vi(name, elem, shape):
    return helper.make_tensor_value_info(name, elem, shape)


def session(nodes, inputs, outputs, opset=17, initializers=()):
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    return InferenceSession(model.SerializeToString(), providers=["cpu"])


def loop_body():
    """(i, cond, acc[2]) -> (cond, acc + x * i, acc + x * i as scan element); x is captured."""
    nodes = [
        helper.make_node("Identity", ["cond_in"], ["cond_out"]),
        helper.make_node("Cast", ["i"], ["fi"], to=F),
        helper.make_node("Mul", ["x", "fi"], ["xi"]),
        helper.make_node("Add", ["acc_in", "xi"], ["acc_out"]),
        helper.make_node("Identity", ["acc_out"], ["scan"]),
    ]
    return helper.make_graph(nodes, "body", [vi("i", I64, []), vi("cond_in", B, []), vi("acc_in", F, [2])],
                             [vi("cond_out", B, []), vi("acc_out", F, [2]), vi("scan", F, [2])])


def run_loop(m, cond, opset=17):
    node = helper.make_node("Loop", ["M" if m is not None else "", "cond" if cond is not None else "", "acc0"],
                            ["acc", "scans"], body=loop_body())
    inputs = [vi("M", I64, None)] * (m is not None) + [vi("cond", B, [])] * (cond is not None)
    sess = session([node], inputs + [vi("acc0", F, [2]), vi("x", F, [2])],
                   [vi("acc", F, [2]), vi("scans", F, None)], opset=opset)
    feed = {"acc0": np.zeros(2, np.float32), "x": np.array([1, 10], np.float32)}
    if m is not None:
        feed["M"] = np.array(m, np.int64)
    if cond is not None:
        feed["cond"] = np.array(cond)
    return sess.run(None, feed)


@pytest.mark.parametrize("opset", [11, 13, 16, 19, 21])
def test_loop_runs_m_times_and_stacks_scan_outputs(opset):
    acc, scans = run_loop(3, True, opset)
    np.testing.assert_array_equal(acc, [3, 30])  # x * (0 + 1 + 2)
    np.testing.assert_array_equal(scans, [[0, 0], [1, 10], [3, 30]])


def test_loop_with_false_cond_or_zero_trips_runs_zero_times_with_typed_empty_scan_output():
    for m, cond in ((5, False), (0, True)):
        acc, scans = run_loop(m, cond)
        np.testing.assert_array_equal(acc, [0, 0])
        assert scans.shape == (0, 2) and scans.dtype == np.float32


def test_loop_rejects_a_trip_count_with_several_elements():
    with pytest.raises(Exception, match="trip count M must hold one element"):
        run_loop([1, 2], True)


def test_loop_stops_when_the_body_cond_turns_false():
    """A while loop (no M): keep going while i < 3, so the body runs 4 times (i = 0..3)."""
    three = helper.make_tensor("three", I64, [], [3])
    body = helper.make_graph(
        [helper.make_node("Less", ["i", "three"], ["cond_out"]),
         helper.make_node("Identity", ["i"], ["seen"])],
        "body", [vi("i", I64, []), vi("c", B, [])], [vi("cond_out", B, []), vi("seen", I64, [])],
        initializer=[three])
    node = helper.make_node("Loop", ["", "cond"], ["seen_all"], body=body)
    (seen,) = session([node], [vi("cond", B, [])], [vi("seen_all", I64, None)]).run(None, {"cond": np.array(True)})
    np.testing.assert_array_equal(seen, [0, 1, 2, 3])


def test_loop_carries_a_sequence():
    body = helper.make_graph(
        [helper.make_node("Identity", ["c"], ["c_out"]),
         helper.make_node("SequenceInsert", ["seq_in", "i"], ["seq_out"])],
        "body", [vi("i", I64, []), vi("c", B, []),
                 helper.make_tensor_sequence_value_info("seq_in", I64, None)],
        [vi("c_out", B, []), helper.make_tensor_sequence_value_info("seq_out", I64, None)])
    nodes = [helper.make_node("SequenceEmpty", [], ["empty"], dtype=I64),
             helper.make_node("Loop", ["M", "", "empty"], ["seq"], body=body)]
    sess = session(nodes, [vi("M", I64, [])], [helper.make_tensor_sequence_value_info("seq", I64, None)])
    (seq,) = sess.run(None, {"M": np.array(3, np.int64)})
    assert [int(t) for t in seq] == [0, 1, 2]


def scan_sum_body():
    return helper.make_graph(
        [helper.make_node("Add", ["s_in", "x"], ["s_out"]), helper.make_node("Identity", ["s_out"], ["y"])],
        "body", [vi("s_in", F, [2]), vi("x", F, [2])], [vi("s_out", F, [2]), vi("y", F, [2])])


def test_scan9_reverse_input_and_output_axis():
    node = helper.make_node("Scan", ["s0", "xs"], ["s", "ys"], body=scan_sum_body(), num_scan_inputs=1,
                            scan_input_directions=[1], scan_output_axes=[1])
    sess = session([node], [vi("s0", F, [2]), vi("xs", F, [3, 2])], [vi("s", F, [2]), vi("ys", F, [2, 3])])
    xs = np.array([[1, 2], [3, 4], [5, 6]], np.float32)
    s, ys = sess.run(None, {"s0": np.zeros(2, np.float32), "xs": xs})
    np.testing.assert_array_equal(s, [9, 12])
    np.testing.assert_array_equal(ys, [[5, 8, 9], [6, 10, 12]])  # partial sums 5, 5+3, 5+3+1 on axis 1


def test_scan9_scan_input_axis_1():
    node = helper.make_node("Scan", ["s0", "xs"], ["s", "ys"], body=scan_sum_body(), num_scan_inputs=1,
                            scan_input_axes=[1])
    sess = session([node], [vi("s0", F, [2]), vi("xs", F, [2, 3])], [vi("s", F, [2]), vi("ys", F, [3, 2])])
    s, ys = sess.run(None, {"s0": np.zeros(2, np.float32), "xs": np.array([[1, 2, 3], [4, 5, 6]], np.float32)})
    np.testing.assert_array_equal(s, [6, 15])
    np.testing.assert_array_equal(ys, [[1, 4], [3, 9], [6, 15]])


def test_scan9_rejects_scan_inputs_of_different_lengths():
    body = helper.make_graph(
        [helper.make_node("Add", ["a", "b"], ["y"])], "body", [vi("a", F, []), vi("b", F, [])], [vi("y", F, [])])
    node = helper.make_node("Scan", ["a", "b"], ["ys"], body=body, num_scan_inputs=2)
    sess = session([node], [vi("a", F, [2]), vi("b", F, [3])], [vi("ys", F, None)])
    with pytest.raises(Exception, match="different lengths"):
        sess.run(None, {"a": np.zeros(2, np.float32), "b": np.zeros(3, np.float32)})


def test_scan8_batches_and_pads_short_sequences_with_zeros():
    node = helper.make_node("Scan", ["lens", "s0", "xs"], ["s", "ys"], body=scan_sum_body(), num_scan_inputs=1)
    sess = session([node], [vi("lens", I64, [2]), vi("s0", F, [2, 2]), vi("xs", F, [2, 3, 2])],
                   [vi("s", F, [2, 2]), vi("ys", F, [2, 3, 2])], opset=8)
    xs = np.arange(12, dtype=np.float32).reshape(2, 3, 2)
    s, ys = sess.run(None, {"lens": np.array([3, 1], np.int64), "s0": np.zeros((2, 2), np.float32), "xs": xs})
    np.testing.assert_array_equal(s, [[6, 9], [6, 7]])
    np.testing.assert_array_equal(ys[1], [[6, 7], [0, 0], [0, 0]])
    np.testing.assert_array_equal(ys[0], np.cumsum(xs[0], axis=0))


def test_sequence_map_zips_sequences_and_repeats_tensors():
    body = helper.make_graph([helper.make_node("Add", ["a", "b"], ["c"])], "body",
                             [vi("a", F, None), vi("b", F, None)], [vi("c", F, None)])
    node = helper.make_node("SequenceMap", ["seq", "t"], ["out"], body=body)
    sess = session([node], [helper.make_tensor_sequence_value_info("seq", F, None), vi("t", F, [1])],
                   [helper.make_tensor_sequence_value_info("out", F, None)])
    seq = [np.array([1, 2], np.float32), np.array([3], np.float32)]
    (out,) = sess.run(None, {"seq": seq, "t": np.array([10], np.float32)})
    assert [o.tolist() for o in out] == [[11, 12], [13]]


def test_if_picks_the_branch_and_rejects_a_non_scalar_condition():
    def branch(v):
        return helper.make_graph([helper.make_node("Constant", [], ["o"], value_floats=[v])], "b", [],
                                 [vi("o", F, [1])])

    node = helper.make_node("If", ["c"], ["y"], then_branch=branch(1.0), else_branch=branch(2.0))
    sess = session([node], [vi("c", B, None)], [vi("y", F, [1])])
    assert sess.run(None, {"c": np.array(False)})[0].tolist() == [2.0]
    with pytest.raises(Exception, match="one element"):
        sess.run(None, {"c": np.array([True, False])})


def test_optional_kernels():
    x = np.array([1.0], np.float32)
    assert Optional(x) is x
    assert Optional(None, type=object()) is None
    with pytest.raises(ValueError, match="type attribute"):
        Optional()
    assert OptionalHasElement(x).item() is True and OptionalHasElement([]).item() is True
    assert OptionalHasElement(None).item() is False and OptionalHasElement().shape == ()
    assert OptionalGetElement([x])[0] is x
    with pytest.raises(ValueError, match="empty"):
        OptionalGetElement(None)


def test_optional_round_trip_in_a_model():
    nodes = [helper.make_node("Optional", ["x"], ["o"]),
             helper.make_node("OptionalHasElement", ["o"], ["has"]),
             helper.make_node("OptionalGetElement", ["o"], ["y"])]
    sess = session(nodes, [vi("x", F, [2])], [vi("has", B, []), vi("y", F, [2])], opset=18)
    has, y = sess.run(None, {"x": np.array([1, 2], np.float32)})
    assert has.item() is True and y.tolist() == [1, 2]


def strings(*values, shape=None):
    arr = np.array(values, dtype=object)
    return arr.reshape(shape) if shape is not None else arr


def test_string_concat_broadcasts():
    out = StringConcat(strings("a", "b"), strings("!", shape=()))
    assert out.dtype == object and out.tolist() == ["a!", "b!"]
    assert StringConcat(strings("x", shape=()), strings("ü", shape=())).shape == ()
    with pytest.raises(ValueError, match="do not broadcast"):
        StringConcat(strings("a", "b"), strings("a", "b", "c"))
    with pytest.raises(ValueError, match="string tensor"):
        StringConcat(np.zeros(2), strings("a", "b"))


def test_string_split_pads_and_counts():
    y, z = StringSplit(strings("a,b,,c", "d"), delimiter=",")
    assert y.tolist() == [["a", "b", "", "c"], ["d", "", "", ""]] and z.tolist() == [4, 1]
    y, z = StringSplit(strings("  hello   world ", "x"))  # no delimiter: whitespace runs
    assert y.tolist() == [["hello", "world"], ["x", ""]] and z.dtype == np.int64 and z.tolist() == [2, 1]
    y, z = StringSplit(strings("a-b-c"), delimiter="-", maxsplit=1)
    assert y.tolist() == [["a", "b-c"]] and z.tolist() == [2]
    y, z = StringSplit(np.empty((0,), dtype=object), delimiter="-")
    assert y.shape == (0, 0) and z.shape == (0,)


def test_regex_full_match():
    out = RegexFullMatch(strings("www.google.com", "google.com", "www.x.org", shape=(3,)), pattern=r"www\.\w+\.com")
    assert out.dtype == bool and out.tolist() == [True, False, False]
    with pytest.raises(ValueError, match="invalid pattern"):
        RegexFullMatch(strings("a"), pattern="(")


TFIDF = dict(max_gram_length=2, min_gram_length=1, max_skip_count=0, ngram_counts=[0, 3],
             ngram_indexes=[0, 1, 2, 3, 4], pool_int64s=[2, 3, 5, 4, 5, 6, 7])


def test_tfidf_counts_unigrams_and_bigrams():
    x = np.array([1, 1, 3, 3, 3, 7, 8, 6, 7, 5, 6, 8], np.int32)
    out = TfIdfVectorizer(x, mode="TF", **TFIDF)
    # unigrams 2, 3, 5 -> 0, 3, 1; bigrams (4,5) -> 0, (6,7) -> 1
    assert out.dtype == np.float32 and out.tolist() == [0, 3, 1, 0, 1]
    only_bigrams = {**TFIDF, "min_gram_length": 2}
    y = np.array([6, 8, 7, 6, 7], np.int64)
    assert TfIdfVectorizer(y, mode="TF", **only_bigrams).tolist() == [0, 0, 0, 0, 1]  # adjacent only
    # (6, 7) at distances 1 (positions 3-4), 2 (0-2) and 4 (0-4)
    assert TfIdfVectorizer(y, mode="TF", **{**only_bigrams, "max_skip_count": 5}).tolist() == [0, 0, 0, 0, 3]
    w = [1, 2, 3, 4, 5]
    assert TfIdfVectorizer(x, mode="IDF", weights=w, **TFIDF).tolist() == [0, 2, 3, 0, 5]
    assert TfIdfVectorizer(x, mode="TFIDF", weights=w, **TFIDF).tolist() == [0, 6, 3, 0, 5]
    batch = TfIdfVectorizer(x.reshape(2, 6), mode="TF", **TFIDF)
    assert batch.shape == (2, 5) and batch.sum(axis=0).tolist() == [0, 3, 1, 0, 1]


def test_tfidf_rejects_bad_attributes():
    x = np.array([1, 2], np.int64)
    with pytest.raises(ValueError, match="mode"):
        TfIdfVectorizer(x, mode="BM25", **TFIDF)
    with pytest.raises(ValueError, match="pool is int64"):
        TfIdfVectorizer(strings("a"), mode="TF", **TFIDF)
    with pytest.raises(ValueError, match="whole 2-grams"):
        TfIdfVectorizer(x, mode="TF", **{**TFIDF, "pool_int64s": [2, 3, 5, 4, 5, 6]})


def test_conv_weights_a_body_reads_from_an_enclosing_graph_are_packed_once(monkeypatch):
    """Weights that are initializers of the main graph are constants inside If bodies (nested too): the native
    Conv packs them on the first run only. Weights the caller feeds are packed on every run."""
    nat_conv = pytest.importorskip("providers.cpu.native.conv")
    from providers.cpu import conv as reference
    from providers.cpu.native import library
    if library.LIB is None:
        pytest.skip(f"native kernels not built: {library.UNAVAILABLE_REASON}")
    rng = np.random.default_rng(7)
    w = rng.standard_normal((16, 8, 3, 3)).astype(np.float32)
    w_fed = rng.standard_normal((16, 8, 3, 3)).astype(np.float32)
    x = rng.standard_normal((1, 8, 6, 6)).astype(np.float32)
    out = vi("y", F, [1, 16, 6, 6])

    def branch(name, weights):
        return helper.make_graph([helper.make_node("Conv", ["x", weights], [name], pads=[1, 1, 1, 1])], name, [],
                                 [vi(name, F, [1, 16, 6, 6])])

    inner = helper.make_node("If", ["inner_cond"], ["y_inner"], then_branch=branch("y_w", "W"),
                             else_branch=branch("y_fed", "W_fed"))
    then_branch = helper.make_graph([inner], "outer_then", [], [vi("y_inner", F, [1, 16, 6, 6])])
    node = helper.make_node("If", ["cond"], ["y"], then_branch=then_branch, else_branch=branch("y_else", "W"))
    sess = session([node], [vi("cond", B, []), vi("inner_cond", B, []), vi("x", F, [1, 8, 6, 6]),
                            vi("W_fed", F, [16, 8, 3, 3])], [out],
                   initializers=[helper.make_tensor("W", F, w.shape, w.ravel())])
    packed = []
    real = nat_conv.pack_weights
    monkeypatch.setattr(nat_conv, "pack_weights", lambda weights, *how: packed.append(weights) or real(weights, *how))
    for cond, inner_cond, weights, packs in ((True, True, w, 1), (False, True, w, 1), (True, False, w_fed, 4)):
        packed.clear()
        for _ in range(4):
            (y,) = sess.run(None, {"cond": np.array(cond), "inner_cond": np.array(inner_cond), "x": x, "W_fed": w_fed})
            np.testing.assert_allclose(y, reference.conv(x, weights, None, pads=[1, 1, 1, 1]), rtol=1e-4, atol=1e-4)
        assert len(packed) == packs, (cond, inner_cond)
