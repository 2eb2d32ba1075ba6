"""Shared helpers of the CUDA provider tests: the provider's plugin registered for a test, the
array modules to run on (numpy standing in for CuPy always; CuPy where a GPU is present), and
a run-on-CUDA-and-on-CPU comparison."""

from __future__ import annotations

import contextlib

import pytest

import ep_runtime as ep
from ep_runtime.plugins import get_plugin_manager
from providers.cuda import ARRAY_MODULE_ENV, CUDAExecutionProvider
from providers.cuda import plugin as cuda_plugin_module
from tests.helpers import devices

CUDA = CUDAExecutionProvider.name


def gpu_reason() -> str | None:
    """None when CuPy and a GPU are present, else why not (read without the stand-in variable)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv(ARRAY_MODULE_ENV, raising=False)
        return CUDAExecutionProvider.unavailable_reason()


GPU_REASON = gpu_reason()
#: `pytestmark = needs_gpu` skips a module on machines without CuPy or a GPU, with the reason.
needs_gpu = pytest.mark.skipif(GPU_REASON is not None, reason=f"CUDA unavailable: {GPU_REASON}")


@contextlib.contextmanager
def plugin_registered():
    """The CUDA plugin registered with the plugin manager (unless an entry point already did)."""
    pm = get_plugin_manager()
    if pm.is_registered(cuda_plugin_module):
        yield
        return
    pm.register(cuda_plugin_module, name="test-cuda")
    try:
        yield
    finally:
        pm.unregister(name="test-cuda")


@pytest.fixture(params=["numpy", "cupy"])
def cuda(request, monkeypatch):
    """The provider entry ("cuda", {"array_module": ...}) on numpy standing in for CuPy, and on
    CuPy where a GPU is present (skipped with the reason elsewhere)."""
    if request.param == "cupy":
        pytest.importorskip("cupy")
        if GPU_REASON is not None:
            pytest.skip(f"CUDA unavailable: {GPU_REASON}")
        monkeypatch.delenv(ARRAY_MODULE_ENV, raising=False)
    else:
        monkeypatch.setenv(ARRAY_MODULE_ENV, "numpy")
    with plugin_registered():
        yield ("cuda", {"array_module": request.param})


@pytest.fixture
def stand_in(monkeypatch):
    """Only the numpy stand-in: ("cuda", {"array_module": "numpy"})."""
    monkeypatch.setenv(ARRAY_MODULE_ENV, "numpy")
    with plugin_registered():
        yield ("cuda", {"array_module": "numpy"})


def provider_of(sess: ep.InferenceSession) -> CUDAExecutionProvider:
    return next(p for p in sess._providers if p.name == CUDA)


def assert_all_on_cuda(sess: ep.InferenceSession) -> None:
    devices.assert_all_on(sess, CUDA)


def run_and_compare(model, feed, entry, *, rtol=1e-4, atol=1e-5, all_on_cuda=True):
    """Run `model` with [cuda, cpu] and with [cpu]; assert equal outputs (and, by default, that
    CUDA took every node). Returns the CUDA session."""
    return devices.run_and_compare(model, feed, entry, CUDA, rtol=rtol, atol=atol, all_on=all_on_cuda)
