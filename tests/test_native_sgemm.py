"""The packed SGEMM of the native CPU kernels (csrc/sgemm.c): dense and 1x1 convolutions against the numpy
reference on sizes that are not multiples of the micro-kernel's tiles, with every micro-kernel this CPU runs,
fused epilogues, NaN / inf, empty tensors, thread counts, and the per-node cache of packed weights."""

from __future__ import annotations

import numpy as np
import onnx.numpy_helper
import pytest
from onnx import TensorProto, helper

import ep_runtime as ep
from ep_runtime.threads import intra_op_thread_limit
from providers.cpu import conv as ref_conv
from providers.cpu import fusion as ref_fusion
from providers.cpu.native import conv as nat_conv
from providers.cpu.native import gemm as nat_gemm
from providers.cpu.native import library
from tests.helpers.models import const, make_model
from tests.helpers.native import build_driver, forced_kernel, run_driver

pytestmark = [
    pytest.mark.filterwarnings("ignore::RuntimeWarning"),  # numpy on NaN / inf inputs
    pytest.mark.skipif(library.LIB is None, reason=f"native kernels not built: {library.UNAVAILABLE_REASON}"),
]
RNG = np.random.default_rng(5)

#: micro-kernel levels of ep_sgemm_force_kernel: portable C, AVX2+FMA, AVX-512
KERNELS = {"generic": 1, "avx2": 2, "avx512": 3}


def randn(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


@pytest.fixture(params=sorted(KERNELS))
def micro_kernel(request):
    """Each micro-kernel this CPU runs, forced for the test, then the automatic choice again."""
    with forced_kernel(library.LIB.ep_sgemm_force_kernel, KERNELS[request.param], request.param) as name:
        yield name


@pytest.fixture(params=["usual", "transposed"])
def layout(request, monkeypatch):
    """The GEMM's usual form (output positions as vectors) or its transposed form (output channels as
    vectors), forced whatever the shapes."""
    monkeypatch.setattr(nat_conv, "TRANSPOSED_MAX_WORK", 1e30 if request.param == "transposed" else -1.0)
    return request.param


def close(got: np.ndarray, want: np.ndarray, k: int) -> None:
    """Equal up to float32 sums of k products in another order."""
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=2e-6 * k, equal_nan=True)


# (batch, channels, height, width, out channels, kernel, strides, dilations, pads, group): M, N and K
# (out channels, output positions, channels x taps) of 1, 3, 17, 31, 65, 129 and others off the tiles
CASES = [
    (1, 3, 17, 31, 17, (3, 3), (1, 1), (1, 1), (1, 1, 1, 1), 1),
    (2, 16, 9, 13, 33, (3, 3), (2, 2), (1, 1), (1, 0, 2, 1), 1),
    (1, 17, 8, 8, 65, (1, 1), (1, 1), (1, 1), (0, 0, 0, 0), 1),
    (1, 31, 12, 12, 31, (5, 1), (1, 2), (2, 1), (2, 0, 1, 1), 1),
    (1, 32, 10, 10, 16, (3, 3), (1, 1), (2, 2), (2, 2, 2, 2), 2),
    (1, 64, 7, 7, 129, (1, 1), (2, 2), (1, 1), (0, 0, 0, 0), 1),
    (3, 20, 5, 40, 24, (3, 3), (3, 1), (1, 3), (0, 3, 1, 0), 1),
    (1, 9, 16, 16, 12, (4, 4), (4, 4), (1, 1), (0, 0, 0, 0), 1),
    (1, 1, 1, 2, 1, (1, 1), (1, 1), (1, 1), (0, 0, 0, 0), 1),
    (1, 3, 1, 3, 3, (1, 3), (1, 1), (1, 1), (0, 1, 0, 1), 1),
    (1, 65, 4, 3, 3, (3, 3), (1, 1), (1, 1), (0, 0, 0, 0), 1),
    (2, 129, 6, 5, 9, (3, 3), (1, 1), (1, 1), (1, 1, 1, 1), 1),
    (1, 40, 11, 11, 40, (3, 3), (2, 2), (1, 1), (1, 1, 1, 1), 4),
    (1, 300, 4, 4, 20, (3, 3), (1, 1), (1, 1), (1, 1, 1, 1), 1),  # K = 2700: several k blocks
]


def conv_case(case):
    n, c, h, w, m, ks, strides, dilations, pads, group = case
    attrs = dict(strides=list(strides), dilations=list(dilations), pads=list(pads), group=group)
    return randn(n, c, h, w), randn(m, c // group, *ks), randn(m), attrs


@pytest.mark.parametrize("case", CASES)
def test_gemm_conv_matches_the_numpy_kernel_off_the_tiles(case, micro_kernel, layout):
    x, w, b, attrs = conv_case(case)
    assert nat_conv.conv_path(x.shape[1], w.shape[1], w.shape[0] // attrs["group"], attrs["group"],
                              w.shape[2] * w.shape[3]) in ("gemm", "direct")
    k = w[0].size
    got = nat_conv.conv(x, w, b, **attrs)
    assert got is not None, "a native path should serve this case"
    close(got, ref_conv.conv(x, w, b, **attrs), k)
    close(nat_conv.Conv(x, w, None, **attrs), ref_conv.conv(x, w, None, **attrs), k)


@pytest.mark.parametrize("case", [CASES[0], CASES[1], CASES[2], CASES[12]])
def test_gemm_conv_1d_matches_the_numpy_kernel(case, layout):
    n, c, _, w_, m, ks, strides, dilations, pads, group = case
    x, w, b = randn(n, c, w_ * 2), randn(m, c // group, ks[1]), randn(m)
    attrs = dict(strides=[strides[1]], dilations=[dilations[1]], pads=[pads[1], pads[3]], group=group)
    close(nat_conv.Conv(x, w, b, **attrs), ref_conv.conv(x, w, b, **attrs), w[0].size)


@pytest.mark.parametrize("activation", ["", "Relu", "Clip", "LeakyRelu", "Sigmoid", "HardSwish", "Swish"])
@pytest.mark.parametrize("case", [CASES[1], CASES[2], CASES[4]])
def test_gemm_conv_epilogue_matches_the_numpy_fused_conv(case, activation, micro_kernel, layout):
    x, w, b, attrs = conv_case(case)
    y_shape = ref_conv.conv(x, w, b, **attrs).shape
    z = randn(*y_shape)
    params = dict(activation_alpha=0.0, activation_beta=6.0) if activation == "Clip" else \
        dict(activation_alpha=0.1 if activation == "LeakyRelu" else 1.0)
    for residual in (None, z, z[:1, :, :1]):  # the output's shape (fused), or one that broadcasts
        want = ref_fusion.FusedConv(x, w, b, residual, activation=activation, **params, **attrs)
        got = nat_conv.FusedConv(x, w, b, residual, activation=activation, **params, **attrs)
        close(got, want, w[0].size)


def test_gemm_conv_propagates_nan_and_inf(micro_kernel, layout):
    x, w, b, attrs = conv_case(CASES[1])
    x[0, 0, 0, :3] = [np.nan, np.inf, -np.inf]
    x[1, 5, 4, 6] = np.nan
    w[7, 2, 1, 1] = np.inf
    want = ref_conv.conv(x, w, b, **attrs)
    got = nat_conv.Conv(x, w, b, **attrs)
    assert np.isnan(want).any() and np.isinf(want).any()
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_array_equal(np.isposinf(got), np.isposinf(want))
    np.testing.assert_array_equal(np.isneginf(got), np.isneginf(want))
    finite = np.isfinite(want)
    close(got[finite], want[finite], w[0].size)


def test_gemm_conv_of_empty_tensors_is_the_numpy_result():
    x, w, b, attrs = conv_case(CASES[1])
    got = nat_conv.Conv(x[:0], w, b, **attrs)
    assert got.shape == ref_conv.conv(x[:0], w, b, **attrs).shape == (0, 33, 5, 6)
    x0 = randn(1, 16, 0, 9)  # no input rows, but the pads make two output rows of bias only
    close(nat_conv.Conv(x0, w, b, pads=[2, 2, 2, 2]), ref_conv.conv(x0, w, b, pads=[2, 2, 2, 2]), 1)
    w0, b0 = w[:0], b[:0]  # no output channels
    got = nat_conv.Conv(x, w0, b0, **attrs)
    assert got.shape == ref_conv.conv(x, w0, b0, **attrs).shape == (2, 0, 5, 6)


@pytest.mark.parametrize("case", [
    (1, 64, 28, 28, 64, (3, 3), (1, 1), (1, 1), (1, 1, 1, 1), 1),
    (2, 32, 30, 34, 40, (3, 3), (2, 2), (1, 1), (1, 0, 2, 1), 1),
    (1, 96, 20, 20, 72, (1, 1), (1, 1), (1, 1), (0, 0, 0, 0), 1),
    (1, 64, 9, 9, 96, (3, 3), (1, 1), (1, 1), (1, 1, 1, 1), 2),
])
def test_gemm_conv_gives_the_same_bits_on_1_2_and_3_threads(case, layout):
    x, w, b, attrs = conv_case(case)
    z = randn(*ref_conv.conv(x, w, b, **attrs).shape)
    outs = []
    for threads in (1, 2, 3):
        with intra_op_thread_limit(threads):
            outs.append(nat_conv.FusedConv(x, w, b, z, activation="Swish", activation_alpha=1.0, **attrs))
    assert outs[0].tobytes() == outs[1].tobytes() == outs[2].tobytes()


def test_the_micro_kernel_cannot_be_forced_beyond_the_cpu():
    assert library.LIB.ep_sgemm_force_kernel(4) == -1
    assert library.LIB.ep_sgemm_force_kernel(-1) == -1
    best = library.LIB.ep_sgemm_force_kernel(0)
    assert best in (1, 2, 3)
    assert library.LIB.ep_sgemm_force_kernel(1) == 1
    assert library.LIB.ep_sgemm_force_kernel(0) == best


def test_packed_weights_are_kept_for_the_same_constant_array_only():
    x, w, b, attrs = conv_case(CASES[0])
    packed = nat_conv.PackedWeights(constant=True)
    first = packed.get(w, 1)
    assert packed.get(w, 1) is first
    w2 = w * 2
    close(nat_conv.Conv(x, w2, b, packed=packed, **attrs), ref_conv.conv(x, w2, b, **attrs), w[0].size)
    assert packed.get(w2, 1) is not first
    runtime = nat_conv.PackedWeights(constant=False)
    assert runtime.get(w, 1) is not runtime.get(w, 1)


def _conv_model(weights_as_input: bool):
    """3x3 conv + Relu (a FusedConv) and a 1x1 conv whose weights are an initializer or a graph input."""
    nodes = [
        helper.make_node("Conv", ["x", "w3", "b3"], ["c1"], name="c3", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu"),
        helper.make_node("Conv", ["r1", "w1"], ["y"], name="c1x1"),
    ]
    inits = [const("w3", randn(24, 5, 3, 3)), const("b3", randn(24))]
    inputs = [("x", TensorProto.FLOAT, [2, 5, 11, 9])]
    w1 = randn(19, 24, 1, 1)
    if weights_as_input:
        inputs.append(("w1", TensorProto.FLOAT, [19, 24, 1, 1]))
    else:
        inits.append(const("w1", w1))
    return make_model(nodes, inputs, [("y", TensorProto.FLOAT, [2, 19, 11, 9])], inits), w1


def test_sessions_run_dense_and_1x1_convolutions_natively_and_match_onnxruntime():
    import onnxruntime as ort

    model, _ = _conv_model(weights_as_input=False)
    sess = ep.InferenceSession(model, providers=["cpu"])
    native = {d.node.name for d in sess.get_partition().decisions if any("kernel native" in n for n in d.notes)}
    assert "c1x1" in native
    want_sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    for _ in range(2):  # the second run reuses the packed weights
        x = randn(2, 5, 11, 9)
        close(sess.run(None, {"x": x})[0], want_sess.run(None, {"x": x})[0], 24 * 9)


def test_weights_fed_at_run_time_are_packed_on_every_run():
    model, _ = _conv_model(weights_as_input=True)
    sess = ep.InferenceSession(model, providers=["cpu"])
    x = randn(2, 5, 11, 9)
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}
    hidden = np.maximum(ref_conv.conv(x, inits["w3"], inits["b3"], pads=[1, 1, 1, 1]), 0)
    w1 = randn(19, 24, 1, 1)
    for scale in (1.0, -3.0):  # the same array object, changed in place between runs
        w1 *= scale
        close(sess.run(None, {"x": x, "w1": w1})[0], ref_conv.conv(hidden, w1, None), 24)


def test_weights_folded_by_the_fusion_are_packed_once(monkeypatch):
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], name="conv", pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c", "s", "bb", "mean", "var"], ["n"], name="bn"),
        helper.make_node("Relu", ["n"], ["y"], name="relu"),
    ]
    inits = [const("w", randn(16, 8, 3, 3)), const("s", randn(16)), const("bb", randn(16)), const("mean", randn(16)),
             const("var", np.abs(randn(16)) + 0.5)]
    model = make_model(nodes, [("x", TensorProto.FLOAT, [1, 8, 10, 10])], [("y", TensorProto.FLOAT, [1, 16, 10, 10])],
                       inits)
    packs = []
    pack = nat_conv.pack_weights
    monkeypatch.setattr(nat_conv, "pack_weights", lambda w, group, nr=0: packs.append(w.shape) or pack(w, group, nr))
    sess = ep.InferenceSession(model, providers=["cpu"])
    x = randn(1, 8, 10, 10)
    first = sess.run(None, {"x": x})[0]
    np.testing.assert_array_equal(sess.run(None, {"x": x})[0], first)
    assert packs == [(16, 8, 3, 3)]


def test_small_maps_take_the_transposed_form_and_large_ones_the_usual_one():
    nr = library.LIB.ep_sgemm_nr()
    for shape, m, want in [((1, 576, 7, 7), 96, nr), ((1, 200, 2, 1), 50, nr), ((1, 32, 56, 56), 64, 0)]:
        x, w = randn(*shape), randn(m, shape[1], 1, 1)
        plan = nat_conv._plan(x.shape, w.shape, None, 1, None, None, None, None, "NOTSET")
        assert nat_conv.weights_layout(plan, 1, nr) == want


def test_padded_3x3_convolutions_on_7x7_maps_take_the_transposed_form_and_14x14_ones_the_usual_one():
    # the usual form computes 2 discarded columns per output row (61 wide positions for 49 outputs); the
    # transposed one gathers the 49 outputs themselves
    nr = library.LIB.ep_sgemm_nr()
    for shape, m, want in [((1, 512, 7, 7), 512, nr), ((1, 192, 7, 7), 320, nr), ((1, 256, 14, 14), 256, 0)]:
        x, w = randn(*shape), randn(m, shape[1], 3, 3)
        plan = nat_conv._plan(x.shape, w.shape, None, 1, None, None, None, (1, 1, 1, 1), "NOTSET")
        assert nat_conv.weights_layout(plan, 1, nr) == want


@pytest.mark.parametrize("case", [
    (1, 32, 7, 7, 40, (3, 3), (1, 1), (1, 1), (1, 1, 1, 1), 1),  # output rows shorter than the padded rows
    (2, 24, 9, 11, 33, (3, 3), (2, 1), (1, 2), (1, 2, 0, 1), 1),
    (1, 300, 6, 5, 20, (3, 3), (1, 1), (1, 1), (1, 1, 1, 1), 1),  # K = 2700: blocks of k, the last one shorter
    (1, 40, 5, 5, 40, (3, 3), (1, 1), (1, 1), (1, 1, 1, 1), 4),
    (1, 7, 1, 3, 70, (1, 3), (1, 1), (1, 1), (0, 1, 0, 1), 1),
    (2, 16, 28, 28, 40, (3, 3), (1, 1), (1, 1), (1, 1, 1, 1), 1),  # usual form over the outputs themselves
])
def test_the_transposed_and_the_usual_form_give_the_same_bits(case, micro_kernel, monkeypatch):
    # both sum each output's products in the same k order, whichever operand is broadcast
    x, w, b, attrs = conv_case(case)
    z = randn(*ref_conv.conv(x, w, b, **attrs).shape)
    x[0, 1, 0, 0] = np.nan
    outs = {}
    for form, limit in (("usual", -1.0), ("transposed", 1e30)):
        monkeypatch.setattr(nat_conv, "TRANSPOSED_MAX_WORK", limit)
        outs[form] = nat_conv.FusedConv(x, w, b, z, activation="Relu", **attrs)
    assert outs["usual"].tobytes() == outs["transposed"].tobytes()
    want = ref_fusion.FusedConv(x, w, b, z, activation="Relu", **attrs)
    np.testing.assert_array_equal(np.isnan(outs["usual"]), np.isnan(want))
    close(outs["usual"], want, w[0].size)


SANITIZER_DRIVER = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ep_native.h"

static float *filled(int64_t n) {
    float *p = (float *)malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
    for (int64_t i = 0; i < n; i++) p[i] = (float)((i * 7919) % 23) - 11.0f;
    return p;
}

int main(void) {
    static const int64_t chans[] = {1, 5, 20}, outs[] = {3, 40, 70}, sizes[] = {1, 6, 37}, kernels[] = {1, 3, 5};
    long calls = 0;
    for (int ci = 0; ci < 3; ci += 2) for (int mi = 0; mi < 3; mi++) for (int hi = 0; hi < 3; hi++)
    for (int ki = 0; ki < 3; ki++) for (int64_t s = 1; s <= 2; s++) for (int64_t p = 0; p <= 2; p += 2)
    for (int64_t g = 1; g <= 2; g++) {
        const int64_t c = chans[ci] * g, m = outs[mi] * g, h = sizes[hi], w = sizes[(hi + 1) % 3], kh = kernels[ki];
        const int64_t kw = kernels[(ki + 1) % 3], d = s == 2 ? 1 : 2;
        const int64_t ph = h + 2 * p - ((kh - 1) * d + 1), pw = w + p - ((kw - 1) * d + 1);
        if (ph < 0 || pw < 0) continue;
        const int64_t ho = ph / s + 1, wo = pw / s + 1, ny = 2 * m * ho * wo, kk = c / g * kh * kw;
        float *x = filled(2 * c * h * w), *wt = filled(m * kk), *b = filled(m), *res = filled(ny);
        float *y = filled(ny), *y3 = filled(ny);
        for (int level = 1; ep_sgemm_force_kernel(level) == level; level++)
            for (int64_t nr = 0; nr <= ep_sgemm_nr(); nr += ep_sgemm_nr()) {
                float *packed = filled(nr ? ep_sgemm_packed_b_size(g, m / g, kk, nr)
                                          : ep_sgemm_packed_size(g, m / g, kk));
                if (nr) ep_sgemm_pack_b_f32(wt, g, m / g, kk, nr, packed);
                else ep_sgemm_pack_a_f32(wt, g, m / g, kk, packed);
                const int64_t shape[16] = {2, c, h, w, m, g, kh, kw, s, s, d, d, p, 0, ho, wo};
                for (int act = 0; act < EP_ACT_COUNT; act += 5) {
                    if (ep_conv2d_gemm_f32(x, packed, nr, act % 2 ? NULL : b, act % 3 ? NULL : res, y, shape, act,
                                           0.1f, 0.9f, 1) != 0 ||
                        ep_conv2d_gemm_f32(x, packed, nr, act % 2 ? NULL : b, act % 3 ? NULL : res, y3, shape, act,
                                           0.1f, 0.9f, 3) != 0)
                        return 1;
                    if (memcmp(y, y3, (size_t)ny * sizeof(float)) != 0) {
                        printf("thread counts differ: c %ld m %ld h %ld w %ld k %ldx%ld s %ld\n", (long)c, (long)m,
                               (long)h, (long)w, (long)kh, (long)kw, (long)s);
                        return 3;
                    }
                    calls++;
                }
                free(packed);
            }
        ep_sgemm_force_kernel(0);
        free(x); free(wt); free(b); free(res); free(y); free(y3);
    }
    /* MatMul with a packed B */
    static const int64_t dims[] = {1, 3, 17, 70, 300};
    for (int level = 1; ep_sgemm_force_kernel(level) == level; level++)
        for (int mi = 0; mi < 5; mi++) for (int ni = 0; ni < 5; ni++) for (int ki = 0; ki < 5; ki++) {
            const int64_t m = dims[mi], n = dims[ni], k = dims[ki], nr = ep_sgemm_nr();
            float *a = filled(m * k), *b = filled(k * n), *bias = filled(n), *c = filled(m * n), *c3 = filled(m * n);
            float *bp = filled((n + nr - 1) / nr * nr * k);
            ep_sgemm_pack_b_rows_f32(b, k, n, nr, bp);
            if (ep_sgemm_f32(a, bp, nr, ki % 2 ? bias : NULL, c, m, n, k, 1) != 0 ||
                ep_sgemm_f32(a, bp, nr, ki % 2 ? bias : NULL, c3, m, n, k, 3) != 0)
                return 1;
            if (memcmp(c, c3, (size_t)(m * n) * sizeof(float)) != 0) return 3;
            calls++;
            free(a); free(b); free(bias); free(c); free(c3); free(bp);
        }
    ep_sgemm_force_kernel(0);
    printf("sanitizers OK: %ld calls\n", calls);
    return 0;
}
"""


@pytest.mark.slow
def test_the_gemm_runs_clean_under_sanitizers(tmp_path):
    """The packed GEMM over many small geometries (1-pixel maps, 1 to 70 channels, groups, strides,
    dilations, pads, both forms, every micro-kernel) with AddressSanitizer and UndefinedBehaviorSanitizer,
    every call split over 3 threads (EP_TINY_GRAIN) and compared with 1 thread bit for bit."""
    run_driver(build_driver(tmp_path, SANITIZER_DRIVER, ["sgemm.c", "parallel.c"]), "sanitizers OK")


def test_a_one_pixel_map_runs_a_matrix_vector_product_with_the_fused_epilogue():
    x, w, b, z = randn(2, 200, 1, 1), randn(50, 200, 1, 1), randn(50), randn(2, 50, 1, 1)
    assert nat_conv._plan(x.shape, w.shape, b.shape, 1, None, None, None, None, "NOTSET").path == "column"
    close(nat_conv.conv(x, w, b), ref_conv.conv(x, w, b), 200)
    want = ref_fusion.FusedConv(x, w, b, z, activation="HardSigmoid", activation_alpha=0.2, activation_beta=0.5)
    got = nat_conv.FusedConv(x, w, b, z, activation="HardSigmoid", activation_alpha=0.2, activation_beta=0.5)
    close(got, want, 200)


# --------------------------------------------------------------------------- MatMul with a constant B


@pytest.mark.parametrize("a_shape, n", [((2, 257), 257), ((3, 5, 300), 300), ((48, 300), 230), ((1, 5, 70), 1000),
                                        ((7, 513), 129)])
def test_native_matmul_matches_numpy_off_the_tiles(a_shape, n, micro_kernel):
    a, b = randn(*a_shape), randn(a_shape[-1], n)
    got = nat_gemm.matmul(a, b)
    assert got is not None, "the packed GEMM should take this product"
    close(got, a @ b, a_shape[-1])


def test_native_matmul_leaves_other_products_to_numpy():
    b = randn(256, 256)
    assert nat_gemm.matmul(randn(1, 256), b) is None  # a matrix-vector product
    assert nat_gemm.matmul(randn(200, 256), b) is None  # enough rows for OpenBLAS
    assert nat_gemm.matmul(randn(8, 256), randn(256, 8)) is None  # a tiny B
    assert nat_gemm.matmul(randn(8, 256), b.astype(np.float64)) is None
    assert nat_gemm.matmul(randn(8, 255), b) is None  # a shape error: numpy's kernel reports it


def test_native_matmul_propagates_nan_and_gives_the_same_bits_on_1_2_and_3_threads():
    a, b = randn(40, 700), randn(700, 900)
    a[3, 5], b[7, 11] = np.nan, np.inf
    outs = []
    for threads in (1, 2, 3):
        with intra_op_thread_limit(threads):
            outs.append(nat_gemm.matmul(a, b))
    assert outs[0].tobytes() == outs[1].tobytes() == outs[2].tobytes()
    want = a.astype(np.float64) @ b.astype(np.float64)
    np.testing.assert_array_equal(np.isnan(outs[0]), np.isnan(want))
    finite = np.isfinite(want)
    close(outs[0][finite], want[finite].astype(np.float32), 700)


def test_a_session_runs_matmul_natively_with_b_packed_once(monkeypatch):
    nodes = [helper.make_node("MatMul", ["x", "w"], ["h"], name="proj"),
             helper.make_node("MatMul", ["h", "v"], ["y"], name="fed")]
    w = randn(256, 300)
    model = make_model(nodes, [("x", TensorProto.FLOAT, [2, 5, 256]), ("v", TensorProto.FLOAT, [300, 250])],
                       [("y", TensorProto.FLOAT, [2, 5, 250])], [const("w", w)])
    packs = []
    pack = nat_gemm.pack_b
    monkeypatch.setattr(nat_gemm, "pack_b", lambda b, nr: packs.append(b.shape) or pack(b, nr))
    sess = ep.InferenceSession(model, providers=["cpu"])
    native = {d.node.name for d in sess.get_partition().decisions if any("kernel native" in n for n in d.notes)}
    assert {"proj", "fed"} <= native
    v = randn(300, 250)
    for scale in (1.0, 2.0):  # v is fed (the same array, changed in place): packed on every run
        v *= scale
        x = randn(2, 5, 256)
        close(sess.run(None, {"x": x, "v": v})[0], (x @ w) @ v, 300 * 256)
    assert packs.count((256, 300)) == 1 and packs.count((300, 250)) == 2
