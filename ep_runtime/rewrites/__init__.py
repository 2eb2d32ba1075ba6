"""Graph rewrites by optimization level, as onnxruntime's graph transformers.

- BASIC (`ORT_ENABLE_BASIC`) and above: If nodes with a constant condition inlined, constants
  folded inside every body graph (If / Loop / Scan, nested, outer-scope initializers included),
  redundant nodes (Identity, inference Dropout, no-op Cast) eliminated (`control_flow`,
  `redundant`).
- EXTENDED and above: fusions — LayerNormalization (`layernorm`), residual Add [+ bias] +
  LayerNormalization -> com.microsoft SkipLayerNormalization (`skip_layernorm`), GELU, SiLU, HardSwish
  (`activations`), bias Add + GELU -> com.microsoft BiasGelu (`bias_gelu`), a MatMul scaled by a
  constant scalar folded into a constant operand or com.microsoft FusedMatMul (`matmul_scale`),
  MatMul + Add -> Gemm, Gemm weights stored pre-transposed and MatMul / Gemm weights stored
  contiguous (`matmul`),
  YOLOv5 Focus -> SpaceToDepth (`focus`), a Reshape whose shape is built from its input's own
  dimensions -> a Reshape by a constant (`reshape`), quantize_dynamic's MatMulInteger chains ->
  com.microsoft MatMulIntegerToFloat / DynamicQuantizeMatMul (`quantization`), a per-tensor
  DequantizeLinear of moved (Gather, Transpose, Reshape, ...) integer constants -> the same moves over
  the dequantized float32 constant (`dequantize`).

Every fusion keeps the names of graph outputs (the new node writes the chain's last output), never
takes a chain whose intermediate values are read elsewhere, and replaces nodes only where the
provider that would have run them claims the new node (`placement`). Top-level constant folding
and BatchNormalization folding stay in `ep_runtime.optimize`, which calls `rewrite`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..graph import Graph
from ..optimization_level import GraphOptimizationLevel
from ..provider import ExecutionProvider
from .activations import fuse_gelu, fuse_hard_swish, fuse_silu
from .bias_gelu import fuse_bias_gelu
from .control_flow import fold_bodies, inline_constant_ifs
from .dequantize import fold_dequantize_linear
from .editor import GraphEdit
from .focus import fuse_focus
from .layernorm import fuse_layer_norm
from .matmul import fuse_matmul_add, pretranspose_gemm_weights, store_weights_contiguous
from .matmul_scale import fuse_matmul_scale
from .placement import Placement
from .quantization import fuse_dynamic_quantize_matmul, fuse_matmul_integer_to_float
from .redundant import eliminate_redundant_nodes
from .reshape import fuse_reshape_shape
from .skip_layernorm import fuse_skip_layer_norm

#: the fusion passes of the EXTENDED level, in the order they run
FUSIONS: tuple[Callable[[GraphEdit], None], ...] = (
    fuse_layer_norm, fuse_skip_layer_norm, fuse_gelu, fuse_bias_gelu, fuse_silu, fuse_hard_swish, fuse_matmul_scale,
    fuse_matmul_add, pretranspose_gemm_weights, store_weights_contiguous, fuse_focus, fuse_reshape_shape,
    fuse_matmul_integer_to_float, fuse_dynamic_quantize_matmul, fold_dequantize_linear,
)

#: how often inlining a constant If and folding again may repeat (each can expose the next)
_MAX_INLINE_ROUNDS = 8


def rewrite(graph: Graph, level: int, fold: Callable[[Graph], Graph],
            providers: Sequence[ExecutionProvider] | None) -> Graph:
    """The graph rewritten for `level`; `fold` is the top-level constant folding (applied again
    after an If is inlined, and to every body graph)."""
    if level < GraphOptimizationLevel.ORT_ENABLE_BASIC:
        return graph
    graph = _basic(graph, fold)
    if level >= GraphOptimizationLevel.ORT_ENABLE_EXTENDED:
        placement = Placement(providers)
        for fuse in FUSIONS:
            edit = GraphEdit(graph, placement.allows)
            fuse(edit)
            graph = edit.commit()
    return graph


def _basic(graph: Graph, fold: Callable[[Graph], Graph]) -> Graph:
    for _ in range(_MAX_INLINE_ROUNDS):
        inlined = inline_constant_ifs(graph)
        if inlined is graph:
            break
        graph = fold(inlined)
    graph = fold_bodies(graph, lambda body: _basic(fold(body), fold))
    return eliminate_redundant_nodes(graph)


__all__ = ["rewrite", "FUSIONS", "Placement", "GraphEdit"]
