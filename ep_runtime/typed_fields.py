"""Typed fields of onnxruntime-style option objects (SessionOptions, RunOptions): one coercion rule."""

from __future__ import annotations

import enum
import operator
from typing import Any

import numpy as np


def coerce_field(owner: str, name: str, kind: type, value: Any) -> Any:
    """`value` as field `owner.name` of type `kind` (str, bool, int or an IntEnum), as onnxruntime's
    bindings accept it: bools and integers interchange, an IntEnum takes its members or their values.
    Anything else is a TypeError naming the field."""
    if kind is str:
        if not isinstance(value, str):
            raise TypeError(f"{owner}.{name} must be a str, got {type(value).__name__}")
        return value
    if kind is bool and isinstance(value, (bool, np.bool_)):
        return bool(value)
    try:
        number = operator.index(value)
    except TypeError:
        raise TypeError(f"{owner}.{name} must be {'a bool' if kind is bool else 'an int'}, "
                        f"got {type(value).__name__}") from None
    if kind is bool:
        return bool(number)
    if issubclass(kind, enum.IntEnum):
        try:
            return kind(number)
        except ValueError:
            raise TypeError(f"{owner}.{name} must be one of {[m.name for m in kind]}, got {value!r}") from None
    return number
