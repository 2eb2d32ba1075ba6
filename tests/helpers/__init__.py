"""What test modules share, imported as a package: model builders (`models`) and the one-node kernel
check against onnxruntime (`kernels`). conftest.py holds only pytest fixtures and hooks."""
