"""An example third-party execution provider for ep-runtime.

`ExampleExecutionProvider` (alias `example`) runs Relu, Sigmoid, Add, Mul and 2-D MatMul on
float32 tensors with numpy, and refuses every other node with a reason. The package also
swaps one kernel of the CPU provider (LeakyRelu) for a "vendor" implementation through the
`ep_runtime_kernels` hook; see `plugin.py` for both hooks.
"""

from .provider import ExampleExecutionProvider
from .vendor import VENDOR_KERNELS

__version__ = "0.1.0"

__all__ = ["ExampleExecutionProvider", "VENDOR_KERNELS"]
