"""Shared helpers of the OpenCL provider tests: skip without a device, parametrize over devices,
run a model on OpenCL and on the CPU provider and compare."""

from __future__ import annotations

import pytest

from tests.helpers import devices

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


OPENCL = "OpenCLExecutionProvider"


def run_and_compare(model, feed, opencl_entry, *, rtol=1e-4, atol=1e-5, all_on_opencl=True):
    """Run `model` with [opencl, cpu] and with [cpu]; assert equal outputs (and, by default, that
    OpenCL took every node). Returns the OpenCL session."""
    return devices.run_and_compare(model, feed, opencl_entry, OPENCL, rtol=rtol, atol=atol, all_on=all_on_opencl)
