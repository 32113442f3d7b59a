"""The before/after report of ``firmware neutralize`` (pure).

Its JSON form (via :mod:`mewarden.jsonutil`) is the "resulting firmware state" org metadata
records for a node (``../shared/reference/firmware.md`` §6 item 6): ME layout and version, FPT
partitions, region bounds, the ME-disable strap and the exact bit written, FLMSTR2, signature and
checksum status, Boot Guard evidence, and which partitions and modules were removed.
"""

from __future__ import annotations

import struct

from mewarden import __version__
from mewarden.firmware.digest import sha256_hex
from mewarden.firmware.flash import all_erased
from mewarden.firmware.neutralize import (
    Mode,
    NeutralizeOptions,
    NeutralizePlan,
    Verification,
)
from mewarden.firmware.neutralize_gen2 import ModuleOutcome
from mewarden.firmware.neutralize_layout import ImageKind, MeImage, MeLayout, read_me_image
from mewarden.firmware.neutralize_plan import PartitionOutcome
from mewarden.record import Record

TYPE_CHECKING = False  # typing costs milliseconds at start-up; mypy reads this as True
if TYPE_CHECKING:
    from mewarden.firmware.descriptor import MeDisableStrap

REPORT_VERSION = 1
ALGORITHMS = {
    MeLayout.FPT_MN2: (
        "me_cleaner 1.2 rules for ME 6-10 / TXE 1-2; byte-identical to me_cleaner 1.2 on the "
        "reference outputs of real ME 7, ME 8 and TXE 2 images"
    ),
    MeLayout.FPT_CPD: (
        "me_cleaner 1.2 rules for ME 11 $CPD removal; tested on synthetic images only "
        "(no real ME 11 reference output)"
    ),
}
STRAP_ONLY = "ME-disable strap only (no code removed)"
"""What ``algorithm`` says; the claims are exactly what the test suite checks."""


def algorithm(plan: NeutralizePlan) -> str:
    """The algorithm used and the compatibility it is tested for."""
    if not plan.mode.strips:
        return STRAP_ONLY
    return ALGORITHMS.get(plan.layout, "me_cleaner 1.2 rules")


class StrapWritten(Record):
    """The ME-disable bit neutralize set."""

    name: str
    strap: int
    bit: int
    family: str
    confidence: str


class FirmwareState(Record):
    """What an image says about its ME, as recorded in org metadata."""

    kind: ImageKind
    size: int
    sha256: str | None
    """None only in a report built with ``digests=False`` (the text report, which shows none)."""
    layout: MeLayout
    me_version: str | None
    me_region_start: int
    me_region_end: int
    partitions: tuple[str, ...]
    ftpr_offset: int | None
    fpt_checksum_valid: bool | None
    ftpr_signature_valid: bool | None
    me_disable: MeDisableStrap | None
    flmstr2: int | None
    boot_guard_manifests: bool | None


class NeutralizeReport(Record):
    """Everything ``firmware neutralize`` did, before and after."""

    report_version: int
    tool: str
    algorithm: str
    input: str
    output: str
    mode: Mode
    options: NeutralizeOptions
    before: FirmwareState
    after: FirmwareState
    partitions: tuple[PartitionOutcome, ...]
    modules: tuple[ModuleOutcome, ...]
    removed_partitions: tuple[str, ...]
    removed_modules: tuple[str, ...]
    kept_modules: tuple[str, ...]
    minimum_me_size: int | None
    ftpr_moved_by: int
    strap_written: StrapWritten | None
    verification: Verification
    extracted: tuple[str, ...]
    warnings: tuple[str, ...]


def _version(image: MeImage) -> str | None:
    if image.version is None:
        return None
    return ".".join(str(part) for part in image.version)


def _flmstr2(image: MeImage) -> int | None:
    descriptor = image.descriptor
    if descriptor is None or len(descriptor.masters) < 2:
        return None
    value: int = struct.unpack_from("<I", image.data, descriptor.master_base + 4)[0]
    return value


def _checks(image: MeImage) -> tuple[bool | None, bool | None]:
    checksum = image.fpt.checksum_valid if image.fpt else None
    return checksum, image.manifest.signature_valid if image.manifest else None


def _sha256(data: bytes, digests: bool) -> str | None:
    return sha256_hex(data) if digests else None


def _erased_state(data: bytes, digests: bool) -> FirmwareState:
    return FirmwareState(
        kind=ImageKind.ME_REGION,
        size=len(data),
        sha256=_sha256(data, digests),
        layout=MeLayout.ABSENT,
        me_version=None,
        me_region_start=0,
        me_region_end=len(data),
        partitions=(),
        ftpr_offset=None,
        fpt_checksum_valid=None,
        ftpr_signature_valid=None,
        me_disable=None,
        flmstr2=None,
        boot_guard_manifests=None,
    )


def firmware_state(
    data: bytes, image: MeImage | None = None, *, digests: bool = True
) -> FirmwareState:
    """The recordable state of the image ``data`` (a wiped ME region reads as absent);
    ``image`` is ``data`` already parsed, when the caller has it; ``digests=False`` leaves out
    the SHA-256 (hashing a whole image costs more than parsing it)."""
    if all_erased(data):
        return _erased_state(data, digests)
    if image is None:
        image = read_me_image(data)
    checksum, signature = _checks(image)
    hints = image.boot_guard
    return FirmwareState(
        kind=image.kind,
        size=len(data),
        sha256=_sha256(data, digests),
        layout=image.layout,
        me_version=_version(image),
        me_region_start=image.region_start,
        me_region_end=image.region_end,
        partitions=tuple(e.name for e in image.entries),
        ftpr_offset=image.ftpr.offset if image.ftpr else None,
        fpt_checksum_valid=checksum,
        ftpr_signature_valid=signature,
        me_disable=image.descriptor.me_disable if image.descriptor else None,
        flmstr2=_flmstr2(image),
        boot_guard_manifests=hints.manifests_present if hints else None,
    )


def _strap_written(plan: NeutralizePlan) -> StrapWritten | None:
    if plan.strap is None:
        return None
    return StrapWritten(
        name=plan.strap.name,
        strap=plan.strap.strap,
        bit=plan.strap.bit,
        family=plan.strap.family.value,
        confidence=plan.strap.confidence,
    )


class ReportInputs(Record):
    """What the CLI knows besides the plan: names, options, verification, extra files."""

    input: str
    output: str
    options: NeutralizeOptions
    verification: Verification
    extracted: tuple[str, ...] = ()


def build_report(
    before: bytes,
    after: bytes,
    plan: NeutralizePlan,
    inputs: ReportInputs,
    *,
    parsed_before: MeImage | None = None,
    digests: bool = True,
) -> NeutralizeReport:
    """The report of turning ``before`` into ``after`` with ``plan`` (``parsed_before``: the
    input as planned, so that it is not parsed again; ``digests=False``: without the images'
    SHA-256, for a report that is only shown as text)."""
    return NeutralizeReport(
        report_version=REPORT_VERSION,
        tool=f"mewarden {__version__}",
        algorithm=algorithm(plan),
        input=inputs.input,
        output=inputs.output,
        mode=plan.mode,
        options=inputs.options,
        before=firmware_state(before, parsed_before, digests=digests),
        after=firmware_state(after, digests=digests),
        partitions=plan.partitions,
        modules=plan.modules,
        removed_partitions=tuple(p.name for p in plan.partitions if p.reason == "removed"),
        removed_modules=tuple(m.name for m in plan.modules if not m.kept),
        kept_modules=tuple(m.name for m in plan.modules if m.kept),
        minimum_me_size=plan.minimum_size,
        ftpr_moved_by=plan.shift,
        strap_written=_strap_written(plan),
        verification=inputs.verification,
        extracted=inputs.extracted,
        warnings=plan.warnings,
    )
