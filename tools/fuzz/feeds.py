"""Feeds of fuzz cases: random arrays that match a mutated model's declared inputs where they can be fed."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper

#: the largest feed a case builds from declared input shapes (larger: the seed's feed is used)
MAX_FEED_ELEMENTS = 1 << 22


def declared_inputs(data: bytes) -> list[onnx.ValueInfoProto] | None:
    """The graph inputs that are not initializers, or None when the bytes do not parse."""
    try:
        model = onnx.load_from_string(data)
    except Exception:  # noqa: BLE001 - protobuf raises DecodeError and others
        return None
    inits = {t.name for t in model.graph.initializer}
    return [v for v in model.graph.input if v.name not in inits]


def random_array(dtype: np.dtype, shape: list[int], rng: np.random.Generator) -> np.ndarray:
    """Random values of `dtype`: normal floats, small ints, random bools."""
    if dtype == np.bool_:
        return rng.random(shape) < 0.5
    if np.issubdtype(dtype, np.integer):
        return rng.integers(0, 4, size=shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def feed_for(info: onnx.ValueInfoProto, fallback: np.ndarray | None, rng: np.random.Generator) -> np.ndarray | None:
    """A random array matching the declared type and shape; symbolic dims take the fallback's size (or 2).
    The fallback itself when the declaration cannot be fed (unknown type, negative or huge dims)."""
    ttype = info.type.tensor_type
    try:
        dtype = np.dtype(helper.tensor_dtype_to_np_dtype(ttype.elem_type))
    except Exception:  # noqa: BLE001 - unknown or invalid element types
        return fallback
    if dtype.kind not in "biuf":
        return fallback
    if not ttype.HasField("shape"):
        return fallback.astype(dtype) if fallback is not None else None
    shape = []
    for k, d in enumerate(ttype.shape.dim):
        if d.HasField("dim_value"):
            shape.append(d.dim_value)
        else:
            ok = fallback is not None and k < fallback.ndim
            shape.append(fallback.shape[k] if ok else 2)
    if any(s < 0 for s in shape) or int(np.prod(shape, dtype=np.float64)) > MAX_FEED_ELEMENTS:
        return fallback
    return random_array(dtype, shape, rng)


def make_feed(data: bytes, original: bytes, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The feed of a mutated model: arrays matching its declared inputs, else the seed's feed."""
    seed_inputs = declared_inputs(original) or []
    seed_feed = {v.name: feed_for(v, None, rng) for v in seed_inputs}
    inputs = declared_inputs(data)
    if inputs is None:
        return {k: v for k, v in seed_feed.items() if v is not None}
    feed = {}
    for info in inputs:
        value = feed_for(info, seed_feed.get(info.name), rng)
        if value is not None:
            feed[info.name] = value
    return feed
