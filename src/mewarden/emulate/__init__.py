"""AMT devices on loopback for tests, benchmarks and the demo (``mewarden emulate``).

The in-process API is :class:`EmulatedFleet` (see ``docs/emulator.md``).
"""

from __future__ import annotations

from mewarden.emulate.device import EmulatedDevice, FaultKind, Ports
from mewarden.emulate.fleet import ActionRecord, EmulatedFleet
from mewarden.emulate.values import BootSource, ControlMode, PowerState, Timing

__all__ = [
    "ActionRecord",
    "BootSource",
    "ControlMode",
    "EmulatedDevice",
    "EmulatedFleet",
    "FaultKind",
    "Ports",
    "PowerState",
    "Timing",
]
