"""Conv (groups, dilations, strides, pads, depthwise) and ConvTranspose, 1-D and 2-D.

Conv runs as an implicit GEMM (conv.cl `conv_igemm`, the im2col matrix never stored), a 1x1
convolution as a plain GEMM (matmul.cl), and depthwise convolutions as one work-item per output.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from ep_runtime.graph import Graph, Node
from ep_runtime.op_shapes import (
    check_conv_shapes,
    conv_channels,
    conv_transpose_channels,
    conv_transpose_geometry,
    spatial_pads,
)

from .matmul import LX, LY, TS_M, TS_N, launch_gemm
from .registry import FLOATS, kernel
from .runtime import Launcher, ftype

CL = "conv.cl"
#: the largest im2col block (elements) on CPU devices; bigger convolutions go in blocks of outputs
IM2COL_ELEMS = 4 << 20


def as_2d(values: Sequence[int], fill: int) -> list[int]:
    """Per-axis parameters of a 1-D op as 2-D ones (a leading axis of size 1)."""
    return [fill] + list(values) if len(values) == 1 else list(values)


class Window2d(NamedTuple):
    """The geometry of a 1-D or 2-D window op (Conv, ConvTranspose, the pools) as the 2-D sizes its
    OpenCL kernels take: input, output and kernel sizes, strides, begin pads, dilations."""

    H: int
    W: int
    OH: int
    OW: int
    KH: int
    KW: int
    sh: int
    sw: int
    ph: int
    pw: int
    dh: int
    dw: int

    @classmethod
    def of(cls, ins: Sequence[int], out: Sequence[int], kernel: Sequence[int], strides: Sequence[int],
           dilations: Sequence[int], begin: Sequence[int]) -> Window2d:
        (h, w), (oh, ow), (kh, kw) = as_2d(ins, 1), as_2d(out, 1), as_2d(kernel, 1)
        (sh, sw), (dh, dw), (ph, pw) = as_2d(strides, 1), as_2d(dilations, 1), as_2d(begin, 0)
        return cls(h, w, oh, ow, kh, kw, sh, sw, ph, pw, dh, dw)

    def taps(self) -> tuple[np.int32, ...]:
        """The window arguments every kernel takes in this order: KH, KW, sh, sw, ph, pw, dh, dw."""
        return tuple(np.int32(v) for v in (self.KH, self.KW, self.sh, self.sw, self.ph, self.pw, self.dh, self.dw))


def _spatial_rank(node: Node, graph: Graph) -> str | None:
    shape = graph.value(node.inputs[0]).shape
    if shape is not None and len(shape) not in (3, 4):
        return f"{node.op_type} over {len(shape) - 2} spatial dims unsupported (1-D and 2-D only)"
    wshape = graph.value(node.inputs[1]).shape if len(node.inputs) > 1 else None
    if shape is None and wshape is not None and len(wshape) not in (3, 4):
        return f"{node.op_type} over {len(wshape) - 2} spatial dims unsupported (1-D and 2-D only)"
    return None


def conv(rt: Launcher, x: Any, w: Any, b: Any, *, auto_pad: str, dilations, group: int, kernel_shape, pads,
         strides) -> Any:
    if x.ndim not in (3, 4) or w.ndim != x.ndim:
        raise ValueError(f"Conv: input {x.shape} / weight {w.shape}: only 1-D and 2-D convolutions")
    nd = x.ndim - 2
    n, c = x.shape[:2]
    check_conv_shapes(x.shape, w.shape, group, kernel_shape, "Conv")
    m, cg = conv_channels(x.shape, w.shape, None if b is None else b.shape, group)
    ks = list(w.shape[2:])
    strides = list(strides) if strides is not None else [1] * nd
    dilations = list(dilations) if dilations is not None else [1] * nd
    begin, _, out = spatial_pads(x.shape[2:], ks, strides, dilations, pads, auto_pad, "Conv")
    y = rt.empty((n, m) + tuple(out), x.dtype)
    if y.size == 0:
        return y
    g = Window2d.of(x.shape[2:], out, ks, strides, dilations, begin)
    H, W, OH, OW, KH, KW, sh, sw, ph, pw = g[:10]
    mg = m // group
    i32 = np.int32
    geom = (i32(c), i32(H), i32(W), i32(m), i32(OH), i32(OW))
    win = g.taps()
    bias = (b if b is not None else w).data, i32(b is not None)
    if cg * KH * KW < 8:  # depthwise and other tiny reductions: one work-item per output
        knl = rt.kernel(CL, "conv_direct", T=ftype(x.dtype))
        rt.launch1d(knl, y.size, i32(y.size), x.data, w.data, *bias, y.data, *geom, i32(cg), i32(mg), *win)
        return y
    P = OH * OW
    if group == 1 and KH * KW == 1 and (sh, sw, ph, pw) == (1, 1, 0, 0):
        # 1x1: Y[n] (M x HW) = W (M x C) @ X[n] (C x HW), the bias as a column broadcast
        return launch_gemm(rt, y, m, P, c, w, c, 1, x, P, 1, (1, n), (0, 0), (0, c * P),
                           c=b, c_sm=1, c_sn=0, beta=1.0)
    if rt.gemm_mode == "tiled":
        knl = rt.kernel(CL, "conv_igemm", T=ftype(x.dtype))
        gsize = (-(-P // TS_N) * LX, -(-mg // TS_M) * LY, n * group)
        rt.launch(knl, gsize, (LX, LY, 1), x.data, w.data, *bias, y.data, *geom, i32(group), i32(cg), i32(mg),
                  *win)
        return y
    # CPU devices: im2col of a block of output positions (all groups), then a register-blocked GEMM
    k = cg * KH * KW
    block = max(1, min(P, IM2COL_ELEMS // (group * k)))
    cols = rt.empty((group * k * block,), x.dtype)
    knl = rt.kernel("gemm_cpu.cl", "im2col", T=ftype(x.dtype))
    for ni in range(n):
        for p0 in range(0, P, block):
            nb = min(block, P - p0)
            total = group * k * nb
            rt.launch1d(knl, total, i32(total), x.data, i32(ni * c * H * W), cols.data, i32(H), i32(W), i32(OW),
                        *win, i32(p0), i32(nb))
            launch_gemm(rt, y, mg, nb, k, w, k, 1, cols, nb, 1, (1, group), (0, mg * k), (0, k * nb),
                        c=b, c_sm=1, c_sn=0, beta=1.0, y_off=ni * m * P + p0, y_sm=P, y_b=(0, mg * P),
                        c_b=(0, mg))
    return y


@kernel("Conv", since=1, dtypes=FLOATS, factory=True, supports=_spatial_rank)
def Conv(*, auto_pad: str = "NOTSET", dilations: list[int] | None = None, group: int = 1,
         kernel_shape: list[int] | None = None, pads: list[int] | None = None, strides: list[int] | None = None,
         _provider):
    rt = _provider.rt

    def run(x, w, b=None):
        return conv(rt, x, w, b, auto_pad=auto_pad, dilations=dilations, group=group, kernel_shape=kernel_shape,
                    pads=pads, strides=strides)

    return run


def conv_transpose(rt: Launcher, x: Any, w: Any, b: Any, *, auto_pad: str, dilations, group: int, kernel_shape,
                   output_padding, output_shape, pads, strides) -> Any:
    if x.ndim not in (3, 4) or w.ndim != x.ndim:
        raise ValueError(f"ConvTranspose: input {x.shape} / weight {w.shape}: only 1-D and 2-D")
    n, c = x.shape[:2]
    m, mg, cg = conv_transpose_channels(x.shape, w.shape, None if b is None else b.shape, group)
    ks = list(w.shape[2:])
    ins = list(x.shape[2:])
    geo = conv_transpose_geometry(ins, ks, strides, dilations, output_padding, output_shape, pads, auto_pad)
    strides, dilations, begin, out = geo.strides, geo.dilations, geo.begin, geo.out
    y = rt.empty((n, m) + tuple(out), x.dtype)
    if y.size == 0:
        return y
    i32 = np.int32
    g = Window2d.of(ins, out, ks, strides, dilations, begin)
    knl = rt.kernel(CL, "conv_transpose", T=ftype(x.dtype))
    rt.launch1d(knl, y.size, i32(y.size), x.data, w.data, (b if b is not None else w).data, i32(b is not None),
                y.data, i32(c), i32(g.H), i32(g.W), i32(m), i32(g.OH), i32(g.OW), i32(cg), i32(mg), *g.taps())
    return y


@kernel("ConvTranspose", since=1, dtypes=FLOATS, factory=True, supports=_spatial_rank)
def ConvTranspose(*, auto_pad: str = "NOTSET", dilations: list[int] | None = None, group: int = 1,
                  kernel_shape: list[int] | None = None, output_padding: list[int] | None = None,
                  output_shape: list[int] | None = None, pads: list[int] | None = None,
                  strides: list[int] | None = None, _provider):
    rt = _provider.rt

    def run(x, w, b=None):
        return conv_transpose(rt, x, w, b, auto_pad=auto_pad, dilations=dilations, group=group,
                              kernel_shape=kernel_shape, output_padding=output_padding, output_shape=output_shape,
                              pads=pads, strides=strides)

    return run
