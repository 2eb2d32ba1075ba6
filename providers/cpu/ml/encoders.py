"""Encoders and map ops: LabelEncoder, CategoryMapper, OneHotEncoder, DictVectorizer, CastMap, ZipMap.

Strings are object arrays of str; maps are Python dicts; ZipMap returns a Python list of dicts.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ep_runtime.graph import Graph, Node, onnx_dtype_to_numpy

from ..registry import kernel
from ._common import ML


def positions(x: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """For each element of x, the index of the first equal key, -1 when absent (NaN matches NaN)."""
    flat = np.asarray(x).reshape(-1)
    if not len(keys) or not flat.size:
        return np.full(np.shape(x), -1, np.int64)
    if keys.dtype == object or flat.dtype == object or flat.dtype.kind == "U":
        table = {k: i for i, k in reversed(list(enumerate(keys.tolist())))}
        uniq, inverse = np.unique(flat.astype(object), return_inverse=True)
        pos = np.asarray([table.get(u, -1) for u in uniq.tolist()], np.int64)[inverse.reshape(-1)]
        return pos.reshape(np.shape(x))
    keys = keys.astype(np.result_type(keys.dtype, flat.dtype), copy=False)
    order = np.argsort(keys, kind="stable")
    sk = keys[order]
    at = np.clip(np.searchsorted(sk, flat), 0, len(sk) - 1)
    pos = np.where(sk[at] == flat, order[at], -1)
    if keys.dtype.kind == "f":
        nan_keys = np.flatnonzero(np.isnan(keys))
        if len(nan_keys):
            pos = np.where(np.isnan(flat), nan_keys[0], pos)
    return pos.reshape(np.shape(x))


def lookup(x: np.ndarray, keys: np.ndarray, values: np.ndarray, default: Any) -> np.ndarray:
    """values[index of x in keys], `default` where x is no key; the result has values' dtype."""
    table = np.concatenate([values, np.asarray([default], dtype=values.dtype)])
    pos = positions(x, keys)
    return table[np.where(pos < 0, len(values), pos)]


def _strings(values) -> np.ndarray:
    return np.asarray(list(values), dtype=object)


def _is_string(x: np.ndarray) -> bool:
    return x.dtype == object or x.dtype.kind in "US"


# ---- LabelEncoder ----


@kernel("LabelEncoder", 1, until=1, domain=ML)
def LabelEncoder_1(x, *, classes_strings=None, default_int64: int = -1, default_string: str = "_Unused"):
    """Strings -> their index in classes_strings (default_int64), int64 -> classes_strings[i] (default_string)."""
    classes = _strings(classes_strings or [])
    if _is_string(x):
        return lookup(x, classes, np.arange(len(classes), dtype=np.int64), default_int64)
    return lookup(x, np.arange(len(classes), dtype=np.int64), classes, default_string)


def _one_of(op: str, what: str, **candidates: Any) -> tuple[str, Any]:
    given = [(k, v) for k, v in candidates.items() if v is not None]
    if len(given) != 1:
        raise ValueError(f"{op}: set exactly one of the {what} attributes ({', '.join(candidates)}), "
                         f"got {[k for k, _ in given] or 'none'}")
    return given[0]


_DEFAULTS = {"O": "_Unused", "i": -1, "u": 0, "f": -0.0, "b": False}


def _label_encoder(x, keys_floats, keys_int64s, keys_strings, keys_tensor, values_floats, values_int64s,
                   values_strings, values_tensor, default_float, default_int64, default_string, default_tensor):
    op = "LabelEncoder"
    kname, keys = _one_of(op, "keys", keys_floats=keys_floats, keys_int64s=keys_int64s, keys_strings=keys_strings,
                          keys_tensor=keys_tensor)
    vname, values = _one_of(op, "values", values_floats=values_floats, values_int64s=values_int64s,
                            values_strings=values_strings, values_tensor=values_tensor)
    keys = {"keys_floats": lambda k: np.asarray(k, np.float32), "keys_int64s": lambda k: np.asarray(k, np.int64),
            "keys_strings": _strings, "keys_tensor": lambda k: np.asarray(k).reshape(-1)}[kname](keys)
    if vname == "values_floats":
        values, default = np.asarray(values, np.float32), default_float
    elif vname == "values_int64s":
        values, default = np.asarray(values, np.int64), default_int64
    elif vname == "values_strings":
        values, default = _strings(values), default_string
    else:
        values = np.asarray(values).reshape(-1)
        if default_tensor is not None:
            default = np.asarray(default_tensor).reshape(-1)[0]
        else:
            default = _DEFAULTS.get(values.dtype.kind, 0)
    if len(keys) != len(values):
        raise ValueError(f"{op}: {len(keys)} keys but {len(values)} values")
    if _is_string(x) != (keys.dtype == object):
        raise ValueError(f"{op}: input of dtype {x.dtype} does not match the {kname} keys")
    return lookup(x, keys, values, default)


@kernel("LabelEncoder", 2, until=3, domain=ML)
def LabelEncoder_2(x, *, default_float: float = -0.0, default_int64: int = -1, default_string: str = "_Unused",
                   keys_floats=None, keys_int64s=None, keys_strings=None, values_floats=None, values_int64s=None,
                   values_strings=None):
    return _label_encoder(x, keys_floats, keys_int64s, keys_strings, None, values_floats, values_int64s,
                          values_strings, None, default_float, default_int64, default_string, None)


@kernel("LabelEncoder", 4, domain=ML)
def LabelEncoder(x, *, default_float: float = -0.0, default_int64: int = -1, default_string: str = "_Unused",
                 default_tensor=None, keys_floats=None, keys_int64s=None, keys_strings=None, keys_tensor=None,
                 values_floats=None, values_int64s=None, values_strings=None, values_tensor=None):
    """Maps each element through keys -> values (one keys_* and one values_* attribute); absent keys
    give the default of the values' type (default_tensor for values_tensor)."""
    return _label_encoder(x, keys_floats, keys_int64s, keys_strings, keys_tensor, values_floats, values_int64s,
                          values_strings, values_tensor, default_float, default_int64, default_string, default_tensor)


@kernel("CategoryMapper", 1, domain=ML)
def CategoryMapper(x, *, cats_int64s=None, cats_strings=None, default_int64: int = -1,
                   default_string: str = "_Unused"):
    """Strings -> int64 and int64 -> strings through the parallel cats_strings / cats_int64s lists."""
    ints = np.asarray(cats_int64s if cats_int64s is not None else [], np.int64)
    strs = _strings(cats_strings or [])
    if len(ints) != len(strs):
        raise ValueError(f"CategoryMapper: cats_int64s has {len(ints)} entries but cats_strings {len(strs)}")
    if _is_string(x):
        return lookup(x, strs, ints, default_int64)
    return lookup(np.asarray(x).astype(np.int64), ints, strs, default_string)


@kernel("OneHotEncoder", 1, domain=ML)
def OneHotEncoder(x, *, cats_int64s=None, cats_strings=None, zeros: int = 1):
    """X's shape plus a last axis over the categories, 1.0 at the element's category (float32)."""
    op = "OneHotEncoder"
    if cats_strings is not None and len(cats_strings):
        cats = _strings(cats_strings)
        if not _is_string(x):
            raise ValueError(f"{op}: string categories need a string input, got dtype {x.dtype}")
    elif cats_int64s is not None and len(cats_int64s):
        cats = np.asarray(cats_int64s, np.int64)
        if _is_string(x):
            raise ValueError(f"{op}: int64 categories need a numeric input, got strings")
        x = np.asarray(x).astype(np.int64)
    else:
        raise ValueError(f"{op}: cats_int64s or cats_strings is required")
    pos = positions(x, cats)
    if not zeros and (pos < 0).any():
        bad = np.asarray(x).reshape(-1)[int(np.flatnonzero(pos.reshape(-1) < 0)[0])]
        raise ValueError(f"{op}: value {bad!r} is no category and zeros=0")
    return (pos[..., None] == np.arange(len(cats))).astype(np.float32)


# ---- maps ----


def _map_value_dtype(graph: Graph | None, node: Node | None, default: Any) -> np.dtype:
    """The numpy dtype of the values of the map feeding `node` (from the graph's types)."""
    if graph is not None and node is not None and node.inputs:
        tp = graph.value(node.inputs[0]).type_proto
        while tp is not None and tp.WhichOneof("value") == "sequence_type":
            tp = tp.sequence_type.elem_type
        if tp is not None and tp.WhichOneof("value") == "map_type":
            vt = tp.map_type.value_type
            if vt.WhichOneof("value") == "tensor_type" and vt.tensor_type.elem_type:
                return onnx_dtype_to_numpy(vt.tensor_type.elem_type)
    return np.dtype(default)


def _maps(x: Any, op: str) -> list[dict]:
    if isinstance(x, dict):
        return [x]
    if isinstance(x, (list, tuple)) and all(isinstance(m, dict) for m in x):
        return list(x)
    raise ValueError(f"{op}: expects a map (dict) or a list of maps, got {type(x).__name__}")


@kernel("DictVectorizer", 1, domain=ML)
def DictVectorizer(x, *, int64_vocabulary=None, string_vocabulary=None, _graph: Graph | None = None,
                   _node: Node | None = None):
    """[maps, vocabulary] tensor: the value of each vocabulary key in each map, 0 where absent."""
    op = "DictVectorizer"
    vocab = list(string_vocabulary) if string_vocabulary else list(int64_vocabulary or [])
    if not vocab:
        raise ValueError(f"{op}: int64_vocabulary or string_vocabulary is required")
    maps = _maps(x, op)
    dtype = _map_value_dtype(_graph, _node, np.float32)
    zero = "" if dtype.kind == "O" else 0
    column = {k: i for i, k in enumerate(vocab)}
    out = np.full((len(maps), len(vocab)), zero, dtype=dtype)
    for r, m in enumerate(maps):
        cols = [column.get(k, -1) for k in m]
        keep = [c >= 0 for c in cols]
        vals = [v for v, ok in zip(m.values(), keep) if ok]
        out[r, [c for c in cols if c >= 0]] = vals
    return out


def _cast_values(values: list, cast_to: str, op: str) -> np.ndarray:
    if cast_to == "TO_FLOAT":
        return np.asarray([float(v) for v in values], np.float32)
    if cast_to == "TO_INT64":
        return np.asarray([int(float(v)) for v in values], np.int64)
    if cast_to == "TO_STRING":
        return np.asarray([v if isinstance(v, str) else f"{float(v):f}" for v in values], dtype=object)
    raise ValueError(f"{op}: unknown cast_to {cast_to!r}; expected TO_FLOAT, TO_STRING or TO_INT64")


@kernel("CastMap", 1, domain=ML)
def CastMap(x, *, cast_to: str = "TO_FLOAT", map_form: str = "DENSE", max_map: int = 1):
    """A map int64 -> value as a [1, n] tensor: values in key order (DENSE), or at their key's
    position in a row of max_map entries, absent keys 0 (SPARSE)."""
    op = "CastMap"
    if not isinstance(x, dict):
        raise ValueError(f"{op}: expects a map (dict), got {type(x).__name__}")
    keys = sorted(x)
    vals = _cast_values([x[k] for k in keys], cast_to, op)
    if map_form == "DENSE":
        return vals.reshape(1, -1)
    if map_form != "SPARSE":
        raise ValueError(f"{op}: unknown map_form {map_form!r}; expected DENSE or SPARSE")
    if max_map < 1:
        raise ValueError(f"{op}: max_map must be positive for SPARSE, got {max_map}")
    out = np.full(max_map, "0" if vals.dtype == object else 0, dtype=vals.dtype)
    for k, v in zip(keys, vals):
        if not 0 <= int(k) < max_map:
            raise ValueError(f"{op}: key {k} is outside [0, max_map={max_map})")
        out[int(k)] = v
    return out.reshape(1, -1)


@kernel("ZipMap", 1, domain=ML)
def ZipMap(x, *, classlabels_int64s=None, classlabels_strings=None):
    """[N, K] scores -> a list of N dicts {class label: score}."""
    op = "ZipMap"
    if classlabels_strings is not None and len(classlabels_strings):
        labels: list = list(classlabels_strings)
    elif classlabels_int64s is not None:
        labels = [int(v) for v in classlabels_int64s]
    else:
        raise ValueError(f"{op}: classlabels_int64s or classlabels_strings is required")
    rows = np.asarray(x)
    rows = rows.reshape(1, -1) if rows.ndim == 1 else rows
    if rows.ndim != 2 or rows.shape[1] != len(labels):
        raise ValueError(f"{op}: input of shape {list(np.shape(x))} does not have one column per class label "
                         f"({len(labels)})")
    return [dict(zip(labels, row)) for row in rows.tolist()]
