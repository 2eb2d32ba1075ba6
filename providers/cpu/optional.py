"""Optional kernels. An optional value is None when empty, else the tensor or sequence it holds."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx

from .registry import kernel


@kernel("Optional", since=15)
def Optional(x: Any = None, *, type: onnx.TypeProto | None = None) -> Any:  # noqa: A002 (ONNX attribute name)
    """Optional-15/28: wrap `x`; with no input, the empty optional of the `type` attribute."""
    if x is None and type is None:
        raise ValueError("Optional: with no input, the type attribute is required")
    return x


@kernel("OptionalHasElement", since=15)
def OptionalHasElement(x: Any = None) -> np.ndarray:
    """OptionalHasElement-15/18/28: whether the optional holds a value (from 18 the input may be
    a plain tensor or sequence, which always has one, or absent, which has none)."""
    return np.array(x is not None)


@kernel("OptionalGetElement", since=15)
def OptionalGetElement(x: Any = None) -> Any:
    """OptionalGetElement-15/18/28: the value an optional holds (a plain tensor or sequence from
    18 on passes through); an empty optional is an error."""
    if x is None:
        raise ValueError("OptionalGetElement: the optional input is empty")
    return x
