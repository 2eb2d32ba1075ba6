"""The embedded C provider: dependency-free C99 operator kernels (csrc/), their build and ctypes
binding, a fused whole-subgraph mode, vendor kernel swaps, and the standalone C exporter."""

from .provider import EmbeddedCExecutionProvider

__all__ = ["EmbeddedCExecutionProvider"]
