"""The value a neutralize plan is: what ``apply_neutralize`` will do, decided up front (pure).

It sits below :mod:`mewarden.firmware.neutralize` (which builds it) and
:mod:`mewarden.firmware.neutralize_verify` (which checks an output against it), so neither
imports the other.
"""

from __future__ import annotations

from mewarden.firmware.neutralize_gen2 import ModuleOutcome
from mewarden.firmware.neutralize_layout import ImageKind, MeLayout
from mewarden.firmware.neutralize_options import Mode
from mewarden.firmware.relocate import Operation
from mewarden.record import Record, field

TYPE_CHECKING = False  # typing costs milliseconds at start-up; mypy reads this as True
if TYPE_CHECKING:
    from mewarden.firmware.straps import StrapLocation

__all__ = ["KeptRange", "NeutralizePlan", "PartitionOutcome"]


class PartitionOutcome(Record):
    """What the plan does with one FPT partition."""

    name: str
    start: int | None
    end: int | None
    kept: bool
    reason: str


class KeptRange(Record):
    """Input bytes that must reach the output unchanged (region offsets; moved by ``shift``)."""

    name: str
    start: int
    end: int
    content: bytes = field(repr=False)
    """The input's bytes there: the output is compared with them byte for byte (no hash to
    compute twice, and nothing a collision could fool)."""


class NeutralizePlan(Record):
    """Everything ``apply_neutralize`` does, decided up front; region offsets are relative."""

    kind: ImageKind
    layout: MeLayout
    mode: Mode
    region_start: int
    region_end: int
    operations: tuple[Operation, ...]
    partitions: tuple[PartitionOutcome, ...]
    modules: tuple[ModuleOutcome, ...]
    ignition: bool
    end_of_data: int | None
    minimum_size: int | None
    shift: int
    """How far FTPR moved (0 without relocation)."""
    output_region_size: int
    """Size of the ME region in the output (smaller only when truncating)."""
    manifest: int | None
    """Region offset of the FTPR manifest in the output."""
    fpt_offset: int | None
    kept: tuple[KeptRange, ...]
    strap: StrapLocation | None
    restrict_me_access: bool
    descriptor_changes: tuple[tuple[str, int, int], ...]
    """New ``(region, start, end)`` bounds for ``--extract-descriptor`` with truncation."""
    warnings: tuple[str, ...]
