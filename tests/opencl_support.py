"""Shared helpers of the OpenCL provider tests: skip without a device, parametrize over devices,
run a model on OpenCL and on the CPU provider and compare."""

from __future__ import annotations

import numpy as np
import pytest

import ep_runtime as ep

try:
    from providers.opencl.provider import OpenCLExecutionProvider
    from providers.opencl.runtime import list_devices

    REASON = OpenCLExecutionProvider.unavailable_reason()
except Exception as exc:  # pragma: no cover - the provider package itself failed
    REASON = f"the OpenCL provider failed to import: {exc}"

    def list_devices():
        return []


#: `pytestmark = needs_opencl` skips a whole module cleanly, with the reason.
needs_opencl = pytest.mark.skipif(REASON is not None, reason=f"OpenCL unavailable: {REASON}")

DEVICES = [(p, d) for p, d, _ in list_devices()] if REASON is None else []
DEVICE_IDS = [f"{p}:{d}" for p, d in DEVICES]


@pytest.fixture(params=DEVICES or [None], ids=DEVICE_IDS or ["no-device"], name="opencl")
def opencl_fixture(request):
    """The provider entry for one OpenCL device present: ("opencl", {platform_id, device_id})."""
    if request.param is None:
        pytest.skip(f"OpenCL unavailable: {REASON}")
    p, d = request.param
    return ("opencl", {"platform_id": p, "device_id": d})


def run_and_compare(model, feed, opencl_entry, *, rtol=1e-4, atol=1e-5, all_on_opencl=True):
    """Run `model` with [opencl, cpu] and with [cpu]; assert equal outputs (and, by default, that
    OpenCL took every node). Returns the OpenCL session."""
    sess = ep.InferenceSession(model, providers=[opencl_entry, "cpu"])
    ref = ep.InferenceSession(model, providers=["cpu"])
    if all_on_opencl:
        part = sess.get_partition()
        where = part.assignment()
        off = {n: p for n, p in where.items() if p != "OpenCLExecutionProvider"}
        assert not off, f"not on OpenCL: {off}\n{part.explain()}"
    got = sess.run(None, feed)
    want = ref.run(None, feed)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == w.shape, (g.shape, w.shape)
        assert g.dtype == w.dtype, (g.dtype, w.dtype)
        if g.dtype.kind == "f":
            np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)
        else:
            np.testing.assert_array_equal(g, w)
    return sess
