"""Benchmarks against onnxruntime: runnable as scripts (bench/README.md), importable for their model
builders (the generated zoo, the light models)."""
