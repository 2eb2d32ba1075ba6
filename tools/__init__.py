"""Maintenance tools: fetching benchmark models and client packages, the model fuzzer, conformance
expectations. Runnable as scripts; importable as a package by tests and benchmarks."""
