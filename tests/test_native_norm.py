"""The native normalizations of the CPU provider (providers/cpu/native/normalization.py, csrc/norm.c)
against the numpy kernels they override: LayerNormalization (versions 17 and 1), com.microsoft
SkipLayerNormalization / SkipSimplifiedLayerNormalization, the CPU fusion's FusedAffine, and com.microsoft
BiasGelu (providers/cpu/native/bias_gelu.py: the target of the bias + GELU rewrite); the same bits
on any thread count, NaN propagation, and a clean hand-over to numpy for what the C code does not take."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper

import ep_runtime as ep
from ep_runtime.threads import intra_op_thread_limit
from providers.cpu import fusion
from providers.cpu import normalization as ref
from providers.cpu.contrib import activation as contrib_activation
from providers.cpu.contrib import normalization as contrib_ref
from providers.cpu.native import bias_gelu, library
from providers.cpu.native import normalization as nat
from tests.helpers.models import F, const, make_model
from tests.helpers.native import build_driver, run_driver

needs_native = pytest.mark.skipif(library.LIB is None, reason=f"native kernels not built: {library.UNAVAILABLE_REASON}")


def randn(*shape: int, seed: int = 0, scale: float = 1.0, shift: float = 0.0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(shape) * scale + shift).astype(np.float32)


@needs_native
@pytest.mark.parametrize("shape,axis", [((2, 7, 33), -1), ((1, 128, 256), -1), ((3, 5, 4, 6), -2), ((4, 9), 0),
                                        ((1, 1, 1), -1), ((2, 3, 1000), 2)])
@pytest.mark.parametrize("outputs", [1, 3])
def test_native_layer_norm_matches_the_numpy_kernel(shape, axis, outputs):
    x = randn(*shape, scale=3.0, shift=2.0)
    norm = shape[axis % len(shape):]
    gamma, beta = randn(*norm, seed=1), randn(*norm, seed=2)
    ax = axis % len(shape)
    assert nat.layer_norm(x, gamma, beta, 1e-5, ax, stats=True) is not None, "the C kernel should take it"
    got = nat.LayerNormalization(x, gamma, beta, axis=axis, _num_outputs=outputs)
    want = ref.LayerNormalization(x, gamma, beta, axis=axis, _num_outputs=outputs)
    assert len(got) == len(want) == outputs
    for g, w in zip(got, want):
        assert g.shape == w.shape and g.dtype == w.dtype
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=2e-5)


@needs_native
def test_native_layer_norm_broadcasts_a_lower_rank_scale_and_takes_no_bias():
    x = randn(2, 3, 4, 5)
    gamma = randn(5, seed=3)
    got = nat.LayerNormalization(x, gamma, None, axis=-2)[0]
    np.testing.assert_allclose(got, ref.LayerNormalization(x, gamma, None, axis=-2)[0], rtol=1e-5, atol=1e-5)


@needs_native
def test_native_layer_norm_hands_other_dtypes_and_unbroadcastable_scales_to_numpy():
    x64 = randn(2, 8).astype(np.float64)
    assert nat.layer_norm(x64, np.ones(8), None, 1e-5, 1) is None
    np.testing.assert_allclose(nat.LayerNormalization(x64, np.ones(8), None)[0],
                               ref.LayerNormalization(x64, np.ones(8), None)[0])
    x = randn(2, 8)
    assert nat.layer_norm(x, np.ones((2, 8), np.float32), None, 1e-5, 1) is None  # scale wider than the norm
    with pytest.raises(ValueError):
        nat.LayerNormalization(x, np.ones(3, np.float32), None)  # numpy reports the mismatch


@needs_native
def test_native_layer_norm_row_with_a_nan_is_nan_and_other_rows_are_unaffected():
    x = randn(3, 16)
    x[1, 4] = np.nan
    y = nat.LayerNormalization(x, np.ones(16, np.float32), np.zeros(16, np.float32))[0]
    assert np.isnan(y[1]).all() and np.isfinite(y[[0, 2]]).all()
    np.testing.assert_allclose(y[[0, 2]], ref.LayerNormalization(x[[0, 2]], np.ones(16, np.float32), None)[0],
                               rtol=1e-5, atol=1e-5)


SKIP_SHAPES = [((2, 5, 16), (2, 5, 16)), ((2, 5, 16), (5, 16)), ((2, 5, 16), (1, 5, 16)), ((2, 5, 16), (16,)),
               ((6, 24), (6, 24))]


@needs_native
@pytest.mark.parametrize("x_shape,skip_shape", SKIP_SHAPES)
@pytest.mark.parametrize("with_bias", [False, True])
@pytest.mark.parametrize("outputs", [1, 2, 4])
def test_native_skip_layer_norm_matches_the_numpy_kernel(x_shape, skip_shape, with_bias, outputs):
    n = x_shape[-1]
    x, skip = randn(*x_shape, scale=2.0), randn(*skip_shape, seed=4)
    gamma, beta = randn(n, seed=5), randn(n, seed=6)
    bias = randn(n, seed=7) if with_bias else None
    got = nat.SkipLayerNormalization(x, skip, gamma, beta, bias, epsilon=1e-5, _num_outputs=outputs)
    want = contrib_ref.SkipLayerNormalization(x, skip, gamma, beta, bias, epsilon=1e-5, _num_outputs=outputs)
    assert len(got) == len(want) == outputs
    for g, w in zip(got, want):
        assert g.shape == w.shape and g.dtype == w.dtype
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=2e-5)


@needs_native
def test_native_skip_simplified_layer_norm_matches_the_numpy_kernel():
    x, skip, gamma, bias = randn(2, 5, 16), randn(5, 16, seed=1), randn(16, seed=2), randn(16, seed=3)
    got = nat.SkipSimplifiedLayerNormalization(x, skip, gamma, bias, _num_outputs=4)
    want = contrib_ref.SkipSimplifiedLayerNormalization(x, skip, gamma, bias, _num_outputs=4)
    assert got[1] is None and want[1] is None
    for g, w in zip(got[::2] + got[3:], want[::2] + want[3:]):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=2e-5)


@needs_native
def test_native_skip_layer_norm_leaves_bad_shapes_to_the_numpy_kernels_error():
    x = randn(2, 5, 16)
    with pytest.raises(ValueError, match="skip"):
        nat.SkipLayerNormalization(x, randn(3, 16), np.ones(16, np.float32))
    with pytest.raises(ValueError, match="gamma"):
        nat.SkipLayerNormalization(x, randn(2, 5, 16), np.ones(8, np.float32))


@needs_native
@pytest.mark.parametrize("shape,a_shape,b_shape", [((2, 6, 5, 7), (1, 6, 1, 1), (1, 6, 1, 1)),
                                                   ((1, 32, 40, 50), (1, 1, 1, 1), (1, 1, 1, 1)),
                                                   ((3, 4, 10), (1, 4, 1), (1, 1, 1)), ((5, 3), (1, 3), (1, 3))])
@pytest.mark.parametrize("activation", ["", "Relu"])
def test_native_fused_affine_matches_the_numpy_kernel(shape, a_shape, b_shape, activation):
    x, a, b = randn(*shape, scale=2.0), randn(*a_shape, seed=1), randn(*b_shape, seed=2)
    assert nat.channel_affine(x, a, b, activation == "Relu") is not None, "the C kernel should take it"
    got = nat.FusedAffine(x, a, b, activation=activation)
    want = fusion.FusedAffine(x, a, b, activation=activation)
    assert got.shape == want.shape and got.dtype == want.dtype
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


@needs_native
def test_native_fused_affine_keeps_nan_through_relu_and_hands_odd_shapes_to_numpy():
    x = randn(1, 3, 4, 4)
    x[0, 1, 2, 2] = np.nan
    y = nat.FusedAffine(x, np.ones((1, 3, 1, 1), np.float32), np.zeros((1, 3, 1, 1), np.float32), activation="Relu")
    assert np.isnan(y[0, 1, 2, 2]) and np.isfinite(np.delete(y.reshape(-1), 1 * 16 + 2 * 4 + 2)).all()
    a = randn(1, 1, 4, 1)  # per row, not per channel: numpy's broadcast
    assert nat.channel_affine(x, a, a, False) is None
    np.testing.assert_array_equal(nat.FusedAffine(x, a, a), fusion.FusedAffine(x, a, a))


@needs_native
def test_native_norms_give_the_same_bits_on_1_2_and_3_threads():
    x, skip = randn(4, 256, 512, scale=2.0), randn(4, 256, 512, seed=1)
    gamma, beta = randn(512, seed=2), randn(512, seed=3)
    planes = randn(2, 64, 96, 96)
    a, b = randn(1, 64, 1, 1, seed=4), randn(1, 64, 1, 1, seed=5)
    results = []
    for count in (1, 2, 3):
        jobs = library.LIB.ep_pool_jobs()
        with intra_op_thread_limit(count):
            results.append([nat.SkipLayerNormalization(x, skip, gamma, beta, None, _num_outputs=4)[0],
                            nat.LayerNormalization(x, gamma, beta)[0], nat.FusedAffine(planes, a, b)])
        assert (library.LIB.ep_pool_jobs() > jobs) == (count > 1), "the calls should be split over threads"
    for other in results[1:]:
        for y, y1 in zip(other, results[0]):
            np.testing.assert_array_equal(y.view(np.uint32), y1.view(np.uint32))


@needs_native
def test_layer_normalization_below_opset_17_runs_as_onnxruntimes_version_1():
    """onnxruntime's LayerNorm fusion writes ai.onnx LayerNormalization into models of any opset."""
    d = 8
    node = helper.make_node("LayerNormalization", ["x", "g", "b"], ["y"], axis=-1, epsilon=1e-5)
    model = make_model([node], [("x", F, [2, 3, d])], [("y", F, [2, 3, d])],
                       [const("g", randn(d, seed=1)), const("b", randn(d, seed=2))], opset=13)
    so = ep.SessionOptions()
    so.graph_optimization_level = ep.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ep.InferenceSession(model.SerializeToString(), so, providers=["cpu"])
    x = randn(2, 3, d)
    assert "kernel native" in sess.get_partition().explain()
    np.testing.assert_allclose(sess.run(None, {"x": x})[0], ref.LayerNormalization(x, randn(d, seed=1),
                                                                                    randn(d, seed=2))[0],
                               rtol=1e-5, atol=1e-5)


@needs_native
def test_native_bias_gelu_matches_the_numpy_kernel_and_hands_other_biases_to_it():
    x, b = randn(2, 7, 48, scale=3.0), randn(48, seed=1)
    np.testing.assert_allclose(bias_gelu.BiasGelu(x, b), contrib_activation.BiasGelu(x, b), rtol=1e-5, atol=1e-6)
    x64 = x.astype(np.float64)
    np.testing.assert_array_equal(bias_gelu.BiasGelu(x64, b.astype(np.float64)),
                                  contrib_activation.BiasGelu(x64, b.astype(np.float64)))
    with pytest.raises(ValueError, match="bias"):
        bias_gelu.BiasGelu(x, randn(7, 48))


NORM_DRIVER = r"""
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ep_native.h"

static float *fill(int64_t n, unsigned *seed) {
    float *p = (float *)malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
    for (int64_t i = 0; i < n; i++) {
        *seed = *seed * 1103515245u + 12345u;
        p[i] = (float)((*seed >> 8) % 2001) / 500.0f - 2.0f;
    }
    return p;
}

int main(void) {
    unsigned seed = 7;
    int failures = 0;
    for (int64_t rows = 1; rows <= 9; rows += 4)
        for (int64_t n = 1; n <= 67; n += 11)
            for (int variant = 0; variant < 8; variant++) {
                const int with_skip = variant & 1, with_bias = variant & 2, simplified = variant & 4;
                const int64_t skip_rows = with_skip ? (rows % 3 == 0 ? 3 : rows) : 0;
                float *x = fill(rows * n, &seed), *skip = with_skip ? fill(skip_rows * n, &seed) : NULL;
                float *bias = with_bias ? fill(n, &seed) : NULL, *g = fill(n, &seed), *b = fill(n, &seed);
                float *y[2], *sum[2], *mean[2], *inv[2];
                for (int t = 0; t < 2; t++) {
                    y[t] = fill(rows * n, &seed); sum[t] = fill(rows * n, &seed);
                    mean[t] = fill(rows, &seed); inv[t] = fill(rows, &seed);
                    if (ep_layer_norm_f32(x, skip, skip_rows, bias, g, simplified ? NULL : b, y[t], sum[t], mean[t],
                                          inv[t], rows, n, 1e-5f, simplified, t ? 3 : 1) != 0) failures++;
                }
                for (int64_t r = 0; r < rows; r++) {
                    double m = 0, v = 0;
                    for (int64_t i = 0; i < n; i++) {
                        double s = x[r * n + i] + (skip ? skip[(r % skip_rows) * n + i] : 0) + (bias ? bias[i] : 0);
                        m += simplified ? 0 : s / n;
                    }
                    for (int64_t i = 0; i < n; i++) {
                        double s = x[r * n + i] + (skip ? skip[(r % skip_rows) * n + i] : 0) + (bias ? bias[i] : 0);
                        v += (s - m) * (s - m) / n;
                    }
                    for (int64_t i = 0; i < n; i++) {
                        double s = x[r * n + i] + (skip ? skip[(r % skip_rows) * n + i] : 0) + (bias ? bias[i] : 0);
                        double want = (s - m) / sqrt(v + 1e-5) * g[i] + (simplified ? 0 : b[i]);
                        if (fabs(y[0][r * n + i] - want) > 1e-3 * (1 + fabs(want))) failures++;
                        if (fabs(sum[0][r * n + i] - s) > 1e-5 * (1 + fabs(s))) failures++;
                    }
                }
                if (memcmp(y[0], y[1], (size_t)(rows * n) * sizeof(float)) != 0) failures++;
                if (memcmp(inv[0], inv[1], (size_t)rows * sizeof(float)) != 0) failures++;
                free(x); free(skip); free(bias); free(g); free(b);
                for (int t = 0; t < 2; t++) { free(y[t]); free(sum[t]); free(mean[t]); free(inv[t]); }
            }
    for (int64_t outer = 1; outer <= 3; outer++)
        for (int64_t c = 1; c <= 17; c += 8)
            for (int64_t inner = 1; inner <= 130; inner += 43)
                for (int relu = 0; relu < 2; relu++) {
                    float *x = fill(outer * c * inner, &seed), *a = fill(c, &seed), *b = fill(c, &seed);
                    float *y1 = fill(outer * c * inner, &seed), *y3 = fill(outer * c * inner, &seed);
                    if (ep_channel_affine_f32(x, a, b, y1, outer, c, inner, relu, 1) != 0) failures++;
                    if (ep_channel_affine_f32(x, a, b, y3, outer, c, inner, relu, 3) != 0) failures++;
                    for (int64_t i = 0; i < outer * c * inner; i++) {
                        const int64_t ch = (i / inner) % c;
                        float want = x[i] * a[ch] + b[ch];
                        if (relu && want < 0) want = 0;
                        if (fabs(y1[i] - want) > 1e-5f * (1 + fabsf(want))) failures++;
                    }
                    if (memcmp(y1, y3, (size_t)(outer * c * inner) * sizeof(float)) != 0) failures++;
                    free(x); free(a); free(b); free(y1); free(y3);
                }
    if (failures) { printf("failures %d\n", failures); return 1; }
    printf("norm ok\n");
    return 0;
}
"""


@needs_native
def test_the_norm_kernels_run_clean_under_sanitizers(tmp_path):
    """ep_layer_norm_f32 (every skip / bias / RMS combination, skip rows repeating, 1 to 67 values a row) and
    ep_channel_affine_f32 built with AddressSanitizer and UndefinedBehaviorSanitizer, every call split
    into tiny parts: exact-size buffers are never overrun, results match a double-precision reference,
    and 3 threads give the bits of 1."""
    exe = build_driver(tmp_path, NORM_DRIVER, ["norm.c", "parallel.c"])
    run_driver(exe, "norm ok")
