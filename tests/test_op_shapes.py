"""Shared shape arithmetic: sliding-window attributes are checked before any size is computed."""

import numpy as np
import pytest

from ep_runtime.op_shapes import spatial_pads
from providers.cpu import conv


@pytest.mark.parametrize("kernel, strides, dilations, pads, problem", [
    ([3, 3], [0, 1], [1, 1], None, "strides"),
    ([3, 3], [1, 1], [1, 0], None, "dilations"),
    ([0, 3], [1, 1], [1, 1], None, "kernel_shape"),
    ([3, 3], [1, 1], [1, 1], [-1, 0, 0, 0], "pads"),
    ([3, 3], [1], [1, 1], None, "strides"),
])
def test_bad_sliding_window_attributes_are_a_value_error_naming_op_and_attribute(kernel, strides, dilations, pads,
                                                                                   problem):
    with pytest.raises(ValueError, match=f"Conv: {problem}"):
        spatial_pads([5, 5], kernel, strides, dilations, pads, "NOTSET", "Conv")


def test_cpu_conv_with_zero_strides_is_a_clear_error_not_a_zero_division():
    x = np.ones((1, 1, 5, 5), np.float32)
    w = np.ones((1, 1, 3, 3), np.float32)
    with pytest.raises(ValueError, match="strides"):
        conv.Conv(x, w, strides=[0, 0])
