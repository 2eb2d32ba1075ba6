"""CPU kernels of providers/cpu/pool.py (MaxPool, AveragePool, global and Lp pooling), compared with onnxruntime."""

from __future__ import annotations

import numpy as np
import pytest

from tests.helpers.kernels import check, kernel_for

ort = pytest.importorskip("onnxruntime")

rng = np.random.default_rng(1236)


def randn(*shape, dtype=np.float32):
    return rng.standard_normal(shape).astype(dtype)


POOL_CASES = [
    ((1, 2, 9, 9), {"kernel_shape": [3, 3]}),
    ((2, 3, 10, 9), {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}),
    ((1, 2, 10, 10), {"kernel_shape": [3, 3], "strides": [2, 2], "ceil_mode": 1}),
    ((1, 2, 11, 10), {"kernel_shape": [2, 3], "strides": [3, 2], "pads": [1, 0, 1, 1], "ceil_mode": 1}),
    ((1, 2, 9, 9), {"kernel_shape": [3, 3], "strides": [2, 2], "auto_pad": "SAME_UPPER"}),
    ((1, 2, 10, 10), {"kernel_shape": [4, 4], "strides": [3, 3], "auto_pad": "SAME_LOWER"}),
    ((1, 2, 9, 9), {"kernel_shape": [3, 3], "auto_pad": "VALID", "strides": [2, 2]}),
    ((1, 2, 12, 12), {"kernel_shape": [3, 3], "dilations": [2, 2], "pads": [2, 2, 2, 2]}),
    ((2, 3, 15), {"kernel_shape": [4], "strides": [2], "pads": [1, 2]}),
    ((1, 2, 6, 7, 5), {"kernel_shape": [2, 3, 2], "strides": [2, 2, 1]}),
]


@pytest.mark.parametrize("xs,attrs", POOL_CASES)
def test_max_pool_matches_onnxruntime(xs, attrs):
    check("MaxPool", [randn(*xs)], attrs, opset=12)


@pytest.mark.parametrize("xs,attrs", [c for c in POOL_CASES if "dilations" not in c[1]][:6])
@pytest.mark.parametrize("storage_order", [0, 1])
def test_max_pool_indices_match_onnxruntime(xs, attrs, storage_order):
    if storage_order and "pads" in attrs:
        pytest.skip("onnxruntime does not support storage_order=1 with pads")
    check("MaxPool", [randn(*xs)], dict(attrs, storage_order=storage_order), opset=12, n_outputs=2)


@pytest.mark.parametrize("xs,attrs", POOL_CASES)
@pytest.mark.parametrize("count_include_pad", [0, 1])
def test_average_pool_matches_onnxruntime(xs, attrs, count_include_pad):
    check("AveragePool", [randn(*xs)], dict(attrs, count_include_pad=count_include_pad), opset=19)


def test_average_pool_opset7_has_no_ceil_mode():
    k = kernel_for("AveragePool", 7)
    assert "ceil_mode" not in k.attribute_names and "count_include_pad" in k.attribute_names


@pytest.mark.parametrize("op", ["GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool"])
@pytest.mark.parametrize("xs", [(2, 3, 5, 4), (1, 4, 7), (1, 2, 3, 4, 5)])
def test_global_pools_match_onnxruntime(op, xs):
    check(op, [randn(*xs)], opset=17)


def test_lp_pool_matches_onnxruntime():
    check("LpPool", [randn(1, 2, 8, 8)], {"kernel_shape": [3, 3], "strides": [2, 2], "p": 3,
                                           "pads": [1, 1, 1, 1]}, opset=18)
