"""Quantization parameters of the int8 operators, fixed at lowering time.

The C kernels requantize int32 accumulators without floating point, as CMSIS-NN and gemmlowp do:
the real multiplier `in_scale * w_scale / out_scale` (computed in float32, as onnxruntime does) is
a Q31 `mult` in [2^30, 2^31) and a power-of-two `shift` (`csrc/ep_quant.h`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ep_runtime.graph import Node

from .calls import F32, I8, I32, U8, Call, value_dtype
from .shapes import Ctx, Unsupported, const_input

#: shift range the kernels accept (csrc/ep_quant.h)
MIN_SHIFT, MAX_SHIFT = -31, 30
#: ep_qgemm.h: packed rows of b come in groups of EP_QP_NR; patches per block (EP_QP_PATCHES); an int8 a
#: is flipped a block of rows at a time into EP_QP_ABUF bytes, at least 4 rows (EP_QP_MR on AVX-512)
QP_NR, QP_PATCHES, QP_ABUF, QP_MR = 4, 32, 65536, 4
#: ep_qgemm.h's EP_QP_KALIGN: a packed ConvInteger row is padded with zeros to a multiple of it
QP_KALIGN = 32
#: ep_qgemm.h's EP_QP_FLOAT_K, EP_QP_FLOAT_K1 and EP_QP_FLOAT_NPOS: a ConvInteger with rows of taps this short (a
#: 1x1 kernel's up to QP_FLOAT_K1 over QP_FLOAT_NPOS output positions or more) may run as an exact float32
#: product, whose scratch holds w, the patches and the sums as floats
QP_FLOAT_K, QP_FLOAT_K1, QP_FLOAT_NPOS = 64, 256, 512
#: largest scratch (bytes) a packed ConvInteger may take; a bigger input keeps the direct kernel
QP_MAX_CONV_SCRATCH = 16 << 20
#: ep_* type codes of the 8-bit types (csrc/ep_tensor.h)
_TYPE_CODES = {U8: 2, I8: 3}


def quantize_multiplier(real: float) -> tuple[int, int]:
    """(mult, shift) with real == mult * 2^(shift - 31) to Q31 precision; (0, 0) for 0 or a
    multiplier below 2^-32 (every accumulator requantizes to 0). ValueError when real is negative,
    not finite or 2^30 and more."""
    if not math.isfinite(real) or real < 0:
        raise ValueError(f"requantization multiplier {real} must be finite and >= 0")
    if real == 0:
        return 0, 0
    q, e = math.frexp(real)
    mult = round(q * (1 << 31))
    if mult == 1 << 31:
        mult //= 2
        e += 1
    if e < MIN_SHIFT:
        return 0, 0
    if e > MAX_SHIFT:
        raise ValueError(f"requantization multiplier {real} is too large (>= 2^30)")
    return mult, e


def requant_params(ctx: Ctx, in_scale: np.ndarray, w_scale: np.ndarray, out_scale: np.ndarray
                   ) -> tuple[list[int], list[int]]:
    """Per-channel (or one) mult and shift for in_scale * w_scale / out_scale, in float32."""
    real = (np.float32(in_scale.reshape(-1)[0]) * w_scale.astype(np.float32).reshape(-1)
            / np.float32(out_scale.reshape(-1)[0]))
    mults, shifts = [], []
    for r in real.tolist():
        try:
            m, s = quantize_multiplier(float(r))
        except ValueError as exc:
            raise Unsupported("attribute", f"{ctx.node.op_type} {exc}") from None
        mults.append(m)
        shifts.append(s)
    return mults, shifts


def scale_const(ctx: Ctx, k: int, what: str, channels: int | None = None) -> np.ndarray:
    """The constant float32 scale at input k: one value, or `channels` values (per channel), each
    finite and > 0."""
    arr = _const(ctx, k, what)
    if arr is None:
        raise Unsupported("attribute", f"{ctx.node.op_type} {what} is missing")
    if arr.dtype != np.float32:
        raise Unsupported("dtype", f"{ctx.node.op_type} {what} of type {arr.dtype} unsupported (float32 only)")
    _check_count(ctx, arr, what, channels)
    if not np.all(np.isfinite(arr) & (arr > 0)):
        raise Unsupported("attribute", f"{ctx.node.op_type} {what} holds a scale that is not finite and > 0")
    return arr.reshape(-1)


def zero_point_const(ctx: Ctx, k: int, what: str, dtype: np.dtype, channels: int | None = None) -> list[int]:
    """The constant zero point(s) at input k (absent: [0]), of the element type `dtype`."""
    arr = _const(ctx, k, what)
    if arr is None:
        return [0]
    if arr.dtype != dtype:
        raise Unsupported("dtype", f"{ctx.node.op_type} {what} of type {arr.dtype} does not match the data's {dtype}")
    _check_count(ctx, arr, what, channels)
    return [int(v) for v in arr.reshape(-1)]


def _const(ctx: Ctx, k: int, what: str) -> np.ndarray | None:
    return const_input(ctx, k, what, "attribute")


def _check_count(ctx: Ctx, arr: np.ndarray, what: str, channels: int | None) -> None:
    if arr.size == 1 or (channels is not None and arr.ndim == 1 and arr.size == channels):
        return
    want = "one value" if channels is None else f"one value or {channels} (one per channel)"
    raise Unsupported("attribute", f"{ctx.node.op_type} {what} of shape {list(arr.shape)} must hold {want}")


def fresh_constant_name(ctx: Ctx, base: str) -> str:
    """`base`, or `base_N` for the first N that names no value or initializer of the graph being lowered."""
    name, n = base, 0
    while name in ctx.graph.initializers or name in ctx.graph.values:
        n += 1
        name = f"{base}_{n}"
    return name


def pack_matmulinteger(ctx: Ctx, call: Call, a_dtype: np.dtype) -> Call:
    """MatMulInteger's call with a constant 2-D b packed once (csrc/ep_qgemm.h: b's columns as k-contiguous
    int8 rows, uint8 flipped, in groups of 4, and their sums), so the product streams them; `call` as it is
    when b is computed at run time, or a is int8 with rows too long to flip a tile at a time."""
    b = ctx.const(ctx.node.inputs[1])
    if b is None or b.ndim != 2 or b.dtype not in _TYPE_CODES or (a_dtype == I8 and QP_MR * b.shape[0] > QP_ABUF):
        return call
    k, n = b.shape
    signed = b.view(np.uint8) ^ np.uint8(0x80) if b.dtype == U8 else b.view(np.uint8)
    bt = np.zeros((-(-n // QP_NR) * QP_NR, k), np.uint8)
    bt[:n] = signed.T
    bt = bt.view(np.int8)
    bsum = bt[:n].sum(axis=1, dtype=np.int64).astype(np.int32)
    name = ctx.node.inputs[1]
    bt_name, sum_name = fresh_constant_name(ctx, name + "__packed"), fresh_constant_name(ctx, name + "__packed_sums")
    args = [("t", bt_name) if a == ("t", name) else a for a in call.args]
    args.insert(3, ("t", sum_name))
    return Call("ep_matmulinteger_packed", call.source, args + [("i32", _TYPE_CODES[b.dtype])], call.scratch,
                shared=call.shared, constants={**call.constants, bt_name: bt, sum_name: bsum})


def pack_convinteger(ctx: Ctx, call: Call, x_shape: Sequence[int], p: Mapping[str, Any]) -> Call:
    """ConvInteger's call with constant weights packed once (csrc/ep_qgemm.h: each output channel's taps in
    (ki, kj, ci) order as uint8, int8 flipped, zero-padded to a multiple of 32, and their sums) and the
    scratch of ep_convinteger_packed (the padded input channels last and a block of patches); `call` as it
    is when the weights are computed at run time or the scratch would exceed QP_MAX_CONV_SCRATCH."""
    w = ctx.const(ctx.node.inputs[1])
    if w is None or w.ndim not in (3, 4) or w.dtype not in _TYPE_CODES or w.ndim != len(x_shape):
        return call
    (top, left, bottom, right), (kh, kw) = p["pads"], p["kernel"]
    ih = x_shape[2] if len(x_shape) == 4 else 1
    cg = w.shape[1]
    kdim = cg * kh * kw
    need = (ih + top + bottom) * (x_shape[-1] + left + right) * cg + QP_PATCHES * -(-kdim // QP_KALIGN) * QP_KALIGN
    mg, npos = w.shape[0] // max(int(p["group"]), 1), int(np.prod(ctx.shape(ctx.node.outputs[0])[2:]))
    if kdim <= QP_FLOAT_K or (kh * kw == 1 and kdim <= QP_FLOAT_K1 and npos >= QP_FLOAT_NPOS):  # a float product
        need = max(need, 4 * (mg * kdim + kdim * npos + mg * npos))  # ep_qconv_float_scratch
    if need > QP_MAX_CONV_SCRATCH or kdim == 0:
        return call
    taps_last = w.reshape(w.shape[0], cg, kh, kw).transpose(0, 2, 3, 1).reshape(w.shape[0], kdim).view(np.uint8)
    wp = np.zeros((w.shape[0], -(-kdim // QP_KALIGN) * QP_KALIGN), np.uint8)
    wp[:, :kdim] = taps_last ^ np.uint8(0x80) if w.dtype == I8 else taps_last
    wsum = wp.sum(axis=1, dtype=np.int64).astype(np.int32)
    name = ctx.node.inputs[1]
    wp_name, sum_name = fresh_constant_name(ctx, name + "__packed"), fresh_constant_name(ctx, name + "__packed_sums")
    args = [("t", wp_name) if a == ("t", name) else a for a in call.args]
    args.insert(3, ("t", sum_name))
    floats = -(-need // 4)
    args += [("i32", _TYPE_CODES[w.dtype]), ("scratch", None), ("i64", floats)]
    return Call("ep_convinteger_packed", call.source, args, floats, shared=call.shared,
                constants={**call.constants, wp_name: wp, sum_name: wsum})


#: the packed kernels and the default calls a vendor's kernel of the op takes instead
_PACKED = {"ep_matmulinteger_packed": ("MatMulInteger", "ep_matmulinteger"),
           "ep_convinteger_packed": ("ConvInteger", "ep_convinteger"), "ep_lstm_rt": ("LSTM", "ep_lstm"),
           "ep_gru_rt": ("GRU", "ep_gru")}


def settle_packed(calls: Sequence[Call], nodes: Sequence[Node], vendor: Mapping[str, Any]) -> list[Call]:
    """The calls with each packed MatMulInteger / ConvInteger (and LSTM / GRU reading W, R transposed) settled:
    where a vendor kernel replaces its op, turned back into the default call (the node's own inputs: the vendor's
    source defines only the op's function); else reading its packed weights only (the model's weight is no
    longer an input, so neither the fused library nor an export carries it). If branches are settled alike."""
    out = list(calls)
    for k, (call, node) in enumerate(zip(calls, nodes)):
        if call.branches:  # an If's branches: their calls settled alike
            out[k] = dataclasses.replace(call, branches=[
                dataclasses.replace(b, calls=settle_packed(b.calls, b.nodes, vendor)) for b in call.branches])
            continue
        op, func = _PACKED.get(call.func, (None, None))
        if op is None:
            continue
        read = {a[1] for a in call.args if a[0] == "t"}
        if op not in vendor:
            out[k] = Call(call.func, call.source, call.args, call.scratch, [i for i in call.inputs if i in read],
                          list(call.outputs), call.shared, constants=dict(call.constants))
            continue
        # the packed kernels take (x, x_zp, packed, sums, w_zp, y, ...); the model's weight is the input
        # the packed call no longer reads (names as the lowering saw them: an If branch's are renamed)
        weight = [i for i in call.inputs if i not in read and i not in call.constants]
        if func in ("ep_lstm", "ep_gru") and len(weight) == 2:  # W^T, R^T (lowering._rnn_transposed): W, R back
            back = dict(zip([a[1] for a in call.args if a[0] == "t" and a[1] in call.constants], weight))
            args = [("t", back[a[1]]) if a[0] == "t" and a[1] in back else a for a in call.args]
            out[k] = Call(func, call.source, args, call.scratch, [i for i in call.inputs if i not in call.constants],
                          list(call.outputs), call.shared)
            continue
        if len(weight) != 1:
            raise ValueError(f"{node.op_type} {node.name!r}: packed call without its weight input")
        t = [a[1] for a in call.args if a[0] == "t"]
        args: list[tuple[str, Any]] = [("t", t[0]), ("t", t[1]), ("t", weight[0]), ("t", t[4]), ("t", t[5])]
        args += [a for a in call.args if a[0] == "conv"]
        out[k] = Call(func, call.source, args, 0, [i for i in call.inputs if i not in call.constants],
                      list(call.outputs), call.shared)
    return out


#: the packed integer products whose float epilogue `fuse_float_epilogues` merges, by op: (the float call,
#: the axis of y that holds the channels: a convolution's feature maps, a product's columns)
_FLOAT_EPILOGUE = {"ep_convinteger_packed": ("ConvInteger", "ep_convinteger_packed_f", 1),
                   "ep_matmulinteger_packed": ("MatMulInteger", "ep_matmulinteger_packed_f", -1)}
#: activations the epilogue applies after the scale (csrc/ep_qgemm.h's EP_QF_ACT_SWISH), by op
_EPILOGUE_ACTS = {("", "Swish"): 7, ("com.microsoft", "QuickGelu"): 7}


def _per_channel(shape: Sequence[int], y_shape: Sequence[int], axis: int) -> bool:
    """Whether a value of `shape` broadcast against y (`y_shape`) is one value, or one per channel along `axis`."""
    if len(shape) > len(y_shape):
        return False
    if int(np.prod(shape)) == 1:
        return True
    full = (1,) * (len(y_shape) - len(shape)) + tuple(shape)
    axis %= len(y_shape)
    return all(d == (y_shape[axis] if k == axis else 1) for k, d in enumerate(full))


def fuse_float_epilogues(calls: Sequence[Call], nodes: Sequence[Node], graph: Any, keep: set[str],
                         shapes: Mapping[str, Sequence[int]], vendor: Mapping[str, Any] | None = None
                         ) -> tuple[list[Call], list[Node]]:
    """The calls with each packed ConvInteger / MatMulInteger followed by what onnxruntime's quantize_dynamic
    writes after it, [Add of an int32 bias] -> Cast to float32 -> Mul by a float32 scale [-> Swish / QuickGelu],
    each op reading the previous one's output alone, merged into one `ep_*_packed_f` call (csrc/ep_qgemm.h's
    ep_qf_epilogue) that writes the last op's output: the int32 sums never reach memory as such (the cpu
    provider's MatMulIntegerToFloat and ConvInteger fusions do the same). The bias and scale are computed at run
    time, one value or one per channel; the merged call runs where the last op ran (its inputs are ready
    there). A chain is left alone when a vendor kernel replaces one of its ops, a value it would swallow has
    another reader (another node, a body, a graph output, `keep`), or a broadcast would change y's shape.
    Results are the separate calls' bit for bit."""
    vendor = vendor or {}
    calls, nodes = list(calls), list(nodes)
    sealed = set(keep) | {v.name for v in graph.outputs}
    position = {id(n): k for k, n in enumerate(nodes)}
    dropped: set[int] = set()

    def step(value: str, func: str, op: str, domain: tuple[str, ...] = ("", "ai.onnx")) -> tuple[int, Node] | None:
        """The one reader of `value` when it is `op` running `func`, standard, not a vendor's."""
        readers = graph.consumers.get(value, [])
        if value in sealed or len(readers) != 1:
            return None
        node = readers[0]
        k = position.get(id(node))
        if (k is None or k in dropped or node.op_type != op or node.domain not in domain or op in vendor
                or calls[k].func != func or node.inputs.count(value) != 1 or value not in shapes):
            return None
        return k, node

    def other(node: Node, value: str) -> str:
        return next(i for i in node.inputs if i != value)

    for k in range(len(calls)):
        spec = _FLOAT_EPILOGUE.get(calls[k].func)
        if spec is None or nodes[k].op_type != spec[0] or k in dropped:
            continue
        op, func, axis = spec
        y = calls[k].outputs[0]
        if y not in shapes:
            continue
        y_shape = tuple(shapes[y])
        chain, bias, v = [], None, y
        add = step(v, "ep_int_binary", "Add")
        if add is not None:
            b = other(add[1], v)
            if (len(add[1].inputs) != 2 or b not in shapes or value_dtype(graph, b) != I32
                    or not _per_channel(shapes[b], y_shape, axis) or tuple(shapes[add[1].outputs[0]]) != y_shape):
                continue
            chain.append(add[0])
            bias, v = b, add[1].outputs[0]
        cast = step(v, "ep_cast", "Cast")
        mul = step(cast[1].outputs[0], "ep_mul", "Mul") if cast is not None else None
        if mul is None or len(mul[1].inputs) != 2:
            continue
        v = cast[1].outputs[0]
        scale = other(mul[1], v)
        if (scale not in shapes or value_dtype(graph, scale) != F32 or not _per_channel(shapes[scale], y_shape, axis)
                or tuple(shapes[mul[1].outputs[0]]) != y_shape):
            continue
        chain += [cast[0], mul[0]]
        v, act, alpha = mul[1].outputs[0], 0, 0.0
        for (domain, act_op), kind in _EPILOGUE_ACTS.items():
            found = step(v, "ep_swish", act_op, (domain,) if domain else ("", "ai.onnx"))
            if found is not None:
                chain.append(found[0])
                v, act = found[1].outputs[0], kind
                alpha = next(val for kind_, val in calls[found[0]].args if kind_ == "f32")
                break
        call = calls[k]
        ts = [a for a in call.args if a[0] == "t"]  # x, x_zp, packed, sums, w_zp, y
        rest = [a for a in call.args if a[0] != "t"]
        args = ts[:5] + [("t", bias), ("t", scale), ("t", v)]
        if op == "ConvInteger":  # conv, w_dtype, scratch, floats
            args += [rest[0], rest[1], ("i32", act), ("f32", float(alpha)), rest[2], rest[3]]
        else:  # b_dtype
            args += [rest[0], ("i32", act), ("f32", float(alpha))]
        last = chain[-1]
        calls[last] = Call(func, call.source, args, call.scratch,
                           list(call.inputs) + [n for n in (bias, scale) if n is not None], [v], call.shared,
                           constants=dict(call.constants))
        nodes[last] = nodes[k]
        dropped.update([k] + chain[:-1])
    kept = [k for k in range(len(calls)) if k not in dropped]
    return [calls[k] for k in kept], [nodes[k] for k in kept]
