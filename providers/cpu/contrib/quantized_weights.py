"""Weight-only quantization of the com.microsoft domain (what onnxruntime's MatMulNBits
quantizer and its embedding quantization emit): MatMulNBits (a matmul with 2/4/8-bit block
quantized weights) and GatherBlockQuantized (a Gather from a block-quantized table).

Sub-byte values are packed low bits first. Weights are dequantized to float32 (the product is
computed at least as accurately as every `accuracy_level` asks)."""

from __future__ import annotations

import ml_dtypes
import numpy as np

from ep_runtime.graph import Graph, Node
from ep_runtime.op_shapes import normalize_axis

from ..registry import kernel
from ._common import MS

_SUB_BYTE = {np.dtype(ml_dtypes.int4): 0, np.dtype(ml_dtypes.uint4): 0}


def unpack_bits(packed: np.ndarray, bits: int) -> np.ndarray:
    """uint8 bytes holding 8 // bits values each, low bits first, unpacked along the last axis."""
    if bits == 8:
        return packed
    per = 8 // bits
    shifts = np.arange(0, 8, bits, dtype=np.uint8)
    values = (packed[..., None] >> shifts) & np.uint8((1 << bits) - 1)
    return values.reshape(packed.shape[:-1] + (packed.shape[-1] * per,))


def _bits_supported(node: Node, graph: Graph) -> str | None:
    bits = node.attrs.get("bits", 4)
    if bits not in (2, 4, 8):
        return f"bits={bits} not supported (2, 4 or 8)"
    return None


def _matmul_nbits_supported(node: Node, graph: Graph) -> str | None:
    if node.attrs.get("weight_prepacked", 0):
        return f"weight_prepacked={node.attrs['weight_prepacked']} (a CUDA-specific packed layout) not supported"
    return _bits_supported(node, graph)


@kernel("MatMulNBits", 1, domain=MS, supports=_matmul_nbits_supported)
def MatMulNBits(a: np.ndarray, b: np.ndarray, scales: np.ndarray, zero_points: np.ndarray | None = None,
                g_idx: np.ndarray | None = None, bias: np.ndarray | None = None, *, K: int | None = None,
                N: int | None = None, accuracy_level: int = 0, bits: int = 4, block_size: int | None = None,
                weight_prepacked: int = 0) -> np.ndarray:
    """Y = A @ dequantize(B)^T + bias: B (N, k_blocks, blob) holds each output column's K weights
    in blocks of `block_size`, dequantized as (q - zero_point) * scale per block; the zero point
    defaults to 2**(bits - 1) and may be packed uint8 or unpacked floats."""
    op = "MatMulNBits"
    if K is None or N is None or block_size is None:
        raise ValueError(f"{op}: the K, N and block_size attributes are required")
    if block_size < 16 or block_size & (block_size - 1):
        raise ValueError(f"{op}: block_size must be a power of 2 and at least 16, got {block_size}")
    if K <= 0 or N <= 0:
        raise ValueError(f"{op}: K and N must be positive, got K={K}, N={N}")
    if g_idx is not None:
        raise ValueError(f"{op}: the deprecated g_idx input is not supported")
    if a.dtype.kind != "f" or a.ndim < 1 or a.shape[-1] != K:
        raise ValueError(f"{op}: A must be a float tensor whose last dimension is K={K}, got {a.dtype} {a.shape}")
    k_blocks = -(-K // block_size)
    blob = block_size * bits // 8
    out_shape = a.shape[:-1] + (N,)
    if b.dtype != np.uint8:
        raise ValueError(f"{op}: B must be uint8, got {b.dtype}")
    if b.size == 0:  # an omitted projection: zeros, or the bias
        y = np.zeros(out_shape, a.dtype)
        return y if bias is None else y + bias.astype(a.dtype)
    if b.shape != (N, k_blocks, blob):
        raise ValueError(f"{op}: B must have shape (N, k_blocks, blob_size) = {(N, k_blocks, blob)}, got {b.shape}")
    if scales.size != N * k_blocks:
        raise ValueError(f"{op}: scales must hold N * k_blocks = {N * k_blocks} values, got shape {scales.shape}")
    q = unpack_bits(b, bits).reshape(N, k_blocks, block_size).astype(np.float32)
    if zero_points is None:
        zp = np.full((N, k_blocks, 1), 2 ** (bits - 1), np.float32)
    elif zero_points.dtype == np.uint8:
        want = (N, -(-k_blocks * bits // 8))
        if zero_points.size != want[0] * want[1]:
            raise ValueError(f"{op}: packed uint8 zero_points must have shape {want}, got {zero_points.shape}")
        zp = unpack_bits(zero_points.reshape(want), bits)[:, :k_blocks, None].astype(np.float32)
    else:
        if zero_points.size != N * k_blocks:
            raise ValueError(f"{op}: zero_points must hold N * k_blocks = {N * k_blocks} values, "
                             f"got shape {zero_points.shape}")
        zp = zero_points.reshape(N, k_blocks, 1).astype(np.float32)
    w = ((q - zp) * scales.reshape(N, k_blocks, 1).astype(np.float32)).reshape(N, k_blocks * block_size)[:, :K]
    y = np.matmul(a.astype(np.float32), w.T)
    if bias is not None:
        if bias.shape != (N,):
            raise ValueError(f"{op}: bias must have shape ({N},), got {bias.shape}")
        y += bias.astype(np.float32)
    return np.asarray(y.astype(a.dtype, copy=False))


def _expand_blocks(p: np.ndarray, axis: int, block: int, length: int) -> np.ndarray:
    return np.repeat(p, block, axis=axis).take(np.arange(length), axis=axis)


@kernel("GatherBlockQuantized", 1, domain=MS, supports=_bits_supported)
def GatherBlockQuantized(data: np.ndarray, indices: np.ndarray, scales: np.ndarray,
                         zero_points: np.ndarray | None = None, *, bits: int = 4, block_size: int = 128,
                         gather_axis: int = 0, quantize_axis: int = 1) -> np.ndarray:
    """Gather slices of a block-quantized table and dequantize them: (q - zero_point) * scale,
    the parameters blocked along `quantize_axis`. uint8 data holds 8 // bits values per byte
    along its last axis (zero point default 2**(bits - 1)); int4/uint4 data default to 0. An
    index outside the gathered axis gives a slice of zeros."""
    op = "GatherBlockQuantized"
    if block_size < 16 or block_size & (block_size - 1):
        raise ValueError(f"{op}: block_size must be a power of 2 and at least 16, got {block_size}")
    if indices.dtype.kind not in "iu":
        raise ValueError(f"{op}: indices must be integers, got {indices.dtype}")
    if data.dtype == np.uint8:
        values, default_zero = unpack_bits(data, bits), 2 ** (bits - 1)
        zeros = None if zero_points is None else unpack_bits(zero_points, bits)
    elif data.dtype in _SUB_BYTE:
        values, default_zero, zeros = data, 0, zero_points
    else:
        raise ValueError(f"{op}: data must be uint8, int4 or uint4, got {data.dtype}")
    if zeros is not None and zero_points.dtype != data.dtype:
        raise ValueError(f"{op}: zero_points have dtype {zero_points.dtype} but data is {data.dtype}")
    r = values.ndim
    g, qa = normalize_axis(gather_axis, r, op), normalize_axis(quantize_axis, r, op)
    if data.dtype == np.uint8 and bits < 8 and g == r - 1:
        raise ValueError(f"{op}: packed data ({bits} bits) cannot be gathered along its last axis")
    blocks = -(-values.shape[qa] // block_size)
    want = tuple(blocks if i == qa else d for i, d in enumerate(values.shape))
    if scales.shape != want:
        raise ValueError(f"{op}: scales must have shape {want}, got {scales.shape}")
    if zeros is not None:
        zeros = zeros[tuple(slice(0, d) for d in want)]
        if zeros.shape != want:
            raise ValueError(f"{op}: zero_points must have shape {want} (unpacked), got {zeros.shape}")
    dim = values.shape[g]
    idx = indices.astype(np.int64)
    idx = np.where(idx < 0, idx + dim, idx)
    valid = (idx >= 0) & (idx < dim)
    idx = np.where(valid, idx, 0)
    picked = np.take(values, idx, axis=g).astype(np.float32)
    param_idx = idx // block_size if qa == g else idx
    scale = np.take(scales, param_idx, axis=g).astype(np.float32)
    zero = None if zeros is None else np.take(zeros, param_idx, axis=g).astype(np.float32)
    if qa != g:
        pos = qa if qa < g else qa + idx.ndim - 1
        scale = _expand_blocks(scale, pos, block_size, values.shape[qa])
        zero = None if zero is None else _expand_blocks(zero, pos, block_size, values.shape[qa])
    y = (picked - (np.float32(default_zero) if zero is None else zero)) * scale
    mask = valid.reshape((1,) * g + idx.shape + (1,) * (r - g - 1))
    return np.asarray(np.where(mask, y, 0).astype(scales.dtype, copy=False))
