"""IOBinding: inputs and outputs bound to a session ahead of a run, with onnxruntime's methods.

Inputs may be numpy arrays, OrtValues (on the host or a device) or the `data_ptr()` of an
OrtValue made by ep-runtime (the form `bind_input(name, "cuda", 0, np.float32, shape, ptr)`
takes); a raw pointer to memory ep-runtime did not allocate is refused, since nothing says what
lies behind it. Outputs are bound by name to a device or to a preallocated OrtValue (the result
is written into it). An input or output on the device of one of the session's providers is not
copied through the host: the plan takes it, or leaves it, there (InferenceSession.run_placed).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import InvalidArgument
from .ort_value import OrtValue, as_ort_value, value_at

if TYPE_CHECKING:
    from .run_options import RunOptions
    from .session import InferenceSession

class IOBinding:
    """Inputs and outputs bound to one session; run them with `session.run_with_iobinding(binding)`."""

    def __init__(self, session: InferenceSession) -> None:
        self._session = session
        self._inputs: dict[str, OrtValue] = {}
        self._outputs: dict[str, tuple[str, int, OrtValue | None]] = {}  # name -> (device, id, preallocated)
        self._results: list[OrtValue] | None = None

    # ---- inputs ----
    def bind_cpu_input(self, name: str, arr_on_cpu: Any) -> None:
        """Bind a host array (lists are converted to the declared dtype at run time)."""
        self._inputs[name] = OrtValue(arr_on_cpu)

    def bind_input(self, name: str, device_type: str, device_id: int, element_type: Any,
                   shape: Sequence[int], buffer_ptr: int) -> None:
        """Bind the OrtValue at address `buffer_ptr` (from its data_ptr()); its device, dtype and shape
        must be those given."""
        value = value_at(int(buffer_ptr))
        if value is None:
            raise InvalidArgument(f"bind_input({name!r}): address {buffer_ptr:#x} is not the data_ptr() of a live "
                                  "ep-runtime OrtValue; bind an OrtValue (bind_ortvalue_input) or a numpy array "
                                  "(bind_cpu_input)")
        want = (str(device_type).lower(), np.dtype(element_type), [int(d) for d in shape])
        got = (value.device_name(), np.dtype(value.value.dtype), value.shape())
        if want != got:
            raise InvalidArgument(f"bind_input({name!r}): the OrtValue at {buffer_ptr:#x} is on {got[0]} with dtype "
                                  f"{got[1]} shape {got[2]}, not on {want[0]} with dtype {want[1]} shape {want[2]}")
        self._inputs[name] = value

    def bind_ortvalue_input(self, name: str, ortvalue: OrtValue) -> None:
        """Bind an OrtValue as input `name`."""
        self._inputs[name] = _checked(ortvalue, name)

    def clear_binding_inputs(self) -> None:
        """Forget every bound input."""
        self._inputs.clear()

    # ---- outputs ----
    def bind_output(self, name: str, device_type: str = "cpu", device_id: int = 0, element_type: Any = None,
                    shape: Sequence[int] | None = None, buffer_ptr: int | None = None) -> None:
        """Bind output `name` to a device (or, with `buffer_ptr`, to the OrtValue at that address)."""
        target = None
        if buffer_ptr is not None:
            target = value_at(int(buffer_ptr))
            if target is None:
                raise InvalidArgument(f"bind_output({name!r}): address {buffer_ptr:#x} is not the data_ptr() of a "
                                      "live ep-runtime OrtValue")
        self._outputs[name] = (str(device_type).lower(), int(device_id), target)

    def bind_ortvalue_output(self, name: str, ortvalue: OrtValue) -> None:
        """Bind output `name` to a preallocated OrtValue: the run writes the result into it."""
        value = _checked(ortvalue, name)
        self._outputs[name] = (value.device_name(), 0, value)

    def clear_binding_outputs(self) -> None:
        """Forget every bound output (and the last results)."""
        self._outputs.clear()
        self._results = None

    # ---- results ----
    def synchronize_inputs(self) -> None:
        """Nothing to wait for: binding copies nothing asynchronously."""

    def synchronize_outputs(self) -> None:
        """Nothing to wait for: results are complete when run_with_iobinding returns."""

    def get_outputs(self) -> list[OrtValue]:
        """The results of the last run, as OrtValues on their bound devices, in binding order."""
        if self._results is None:
            raise InvalidArgument("IOBinding.get_outputs: no results yet; call session.run_with_iobinding first")
        return list(self._results)

    get_outputs_as_ortvaluevector = get_outputs

    def copy_outputs_to_cpu(self) -> list[Any]:
        """The results of the last run as host numpy arrays."""
        return [v.numpy() for v in self.get_outputs()]

    def run(self, run_options: RunOptions | None = None) -> None:
        """Run the session on the bound inputs and keep the bound outputs (session.run_with_iobinding)."""
        if not self._outputs:
            raise InvalidArgument("IOBinding: no output is bound; call bind_output first")
        names = list(self._outputs)
        devices = {n: (device, device_id) for n, (device, device_id, target) in self._outputs.items() if target is None}
        results = self._session.run_placed(names, self._inputs, run_options, devices)
        placed = []
        for name, result in zip(names, results):
            target = self._outputs[name][2]
            if target is not None:
                target.update_inplace(result.numpy())
                result = target
            placed.append(result)
        self._results = placed


def _checked(value: Any, name: str) -> OrtValue:
    if not isinstance(value, OrtValue):
        raise InvalidArgument(f"binding {name!r}: expected an OrtValue, got {type(value).__name__}")
    return as_ort_value(value)


__all__ = ["IOBinding"]
