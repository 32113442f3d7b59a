"""``inspect_image``: what an Intel SPI image, ME region or bare descriptor says about itself.

Pure composition of the descriptor parser (``descriptor``/``straps``), the FIT reader
(``fit``) and the ME parsers (``me.*``). The report is the versioned JSON contract documented in
``docs/firmware-inspect.md``; bump :data:`SCHEMA_VERSION` on any incompatible change.

Kind detection: a descriptor signature at +0x10 (or +0 for ICH8-10) => ``full-image`` when the
data is larger than the descriptor region, else ``descriptor``; ``$FPT`` at +0/+0x10 or a CSE
layout table => ``me-region``; anything else is refused with a one-line
:class:`~mewarden.errors.FirmwareFormatError`.
"""

from __future__ import annotations

import enum

from mewarden.errors import FirmwareFormatError
from mewarden.firmware.flash import all_erased, find_descriptor
from mewarden.firmware.me import fpt
from mewarden.firmware.me.analyze import MeReport, analyze_me
from mewarden.record import Record

# The descriptor, strap, FIT and IFWI parsers load only for images that have those parts: a
# bare ME region (what most inspect loops read) is answered without them.
TYPE_CHECKING = False  # typing costs milliseconds at start-up; mypy reads this as True
if TYPE_CHECKING:
    from mewarden.firmware.descriptor import Descriptor
    from mewarden.firmware.straps import MeDisableStrap

SCHEMA_VERSION = 1


class ImageKind(enum.StrEnum):
    """What the inspected file is."""

    FULL_IMAGE = "full-image"
    ME_REGION = "me-region"
    DESCRIPTOR = "descriptor"


class RegionReport(Record):
    """A flash region; ``end`` is exclusive."""

    name: str
    start: int
    end: int
    used: bool


class MasterReport(Record):
    """Which regions one bus master may read and write."""

    name: str
    read: tuple[str, ...]
    write: tuple[str, ...]


class DescriptorReport(Record):
    """The flash descriptor part of the report."""

    offset: int
    version: int
    size: int
    flash_size: int | None
    regions: tuple[RegionReport, ...]
    masters: tuple[MasterReport, ...]
    pch_family: str | None
    me_disable: MeDisableStrap


class BootGuardReport(Record):
    """Boot Guard hints from the FIT: evidence only, enforcement is fused in the PCH."""

    fit_found: bool
    key_manifest: bool
    boot_policy_manifest: bool
    startup_acm: bool
    note: str


class InspectReport(Record):
    """The whole ``firmware inspect`` report (JSON contract ``schema_version`` 1)."""

    schema_version: int
    kind: ImageKind
    size: int
    descriptor: DescriptorReport | None
    me_region: RegionReport | None
    me: MeReport | None
    boot_guard: BootGuardReport | None
    modules_verified: bool | None
    warnings: tuple[str, ...]


def _descriptor_report(desc: Descriptor) -> DescriptorReport:
    return DescriptorReport(
        offset=desc.offset,
        version=int(desc.version),
        size=desc.size,
        flash_size=desc.flash_size,
        regions=tuple(
            RegionReport(name=r.name, start=r.start, end=r.end, used=r.used) for r in desc.regions
        ),
        masters=tuple(MasterReport(name=m.name, read=m.read, write=m.write) for m in desc.masters),
        pch_family=desc.pch_family,
        me_disable=desc.me_disable,
    )


def _boot_guard(data: bytes) -> BootGuardReport:
    from mewarden.firmware import fit

    hints = fit.boot_guard_hints(data)
    return BootGuardReport(
        fit_found=hints.fit_found,
        key_manifest=hints.key_manifest is not None,
        boot_policy_manifest=hints.boot_policy_manifest is not None,
        startup_acm=hints.startup_acm is not None,
        note=hints.note,
    )


def _me_slice(
    data: bytes, desc: Descriptor, warnings: list[str]
) -> tuple[bytes | None, RegionReport | None]:
    """The ME region's bytes and bounds; None (with a warning) when there is no ME firmware."""
    region = desc.region("me")
    if region is None or not region.used:
        warnings.append("the descriptor has no ME region (unused or disabled): no ME firmware")
        return None, None
    if region.start >= len(data):
        raise FirmwareFormatError(
            f"the descriptor puts the ME region at {region.start:#x}, past the end of the "
            f"{len(data):#x}-byte file"
        )
    if region.end > len(data):
        warnings.append(
            f"ME region {region.start:#x}-{region.end:#x} is truncated at {len(data):#x}"
        )
    report = RegionReport(name="me", start=region.start, end=region.end, used=True)
    me_bytes = data[region.start : region.end]
    if all_erased(me_bytes):
        warnings.append(
            f"the ME region {region.start:#x}-{region.end:#x} is erased (all 0xFF): no ME firmware"
        )
        return None, report
    return me_bytes, report


def _platform_warning(desc: Descriptor) -> list[str]:
    """The "unknown platform" warning when the straps do not tell where the ME-disable bit is."""
    strap = desc.me_disable
    if strap.strap is not None:
        return []
    candidates = ", ".join(f"PCHSTRP{c.strap} bit {c.bit}" for c in strap.candidates)
    why = (
        f"no source gives the ME-disable strap of PCH family {desc.pch_family}"
        if desc.pch_family
        else "the PCH family cannot be told from the straps"
    )
    return [
        f"unknown platform: {why}, so the ME-disable strap location is unknown "
        f"(candidates: {candidates or 'none'})"
    ]


def _full(data: bytes, warnings: list[str], *, verify: bool) -> InspectReport:
    from mewarden.firmware.descriptor import parse_descriptor

    desc = parse_descriptor(data)
    warnings.extend(desc.warnings)
    warnings.extend(_platform_warning(desc))
    if len(data) <= desc.size:
        return _report(ImageKind.DESCRIPTOR, data=data, desc=desc, warnings=warnings)
    me_bytes, me_region = _me_slice(data, desc, warnings)
    me = analyze_me(me_bytes, verify_modules=verify) if me_bytes is not None else None
    if me is not None:
        warnings.extend(me.warnings)
    return _report(
        ImageKind.FULL_IMAGE,
        data=data,
        desc=desc,
        me_region=me_region,
        me=me,
        boot_guard=_boot_guard(data),
        warnings=warnings,
        verify=verify,
    )


def _modules_verified(me: MeReport, warnings: list[str]) -> bool | None:
    """False on any mismatch; True when every checkable module matched; None if none could be."""
    results = [m.hash_valid for m in me.modules + me.other_modules if m.present]
    unchecked = sum(1 for r in results if r is None)
    if unchecked:
        warnings.append(
            f"{unchecked} module(s) could not be hash-checked (Huffman-compressed, or no "
            "signed metadata hash to compare with)"
        )
    if False in results:
        return False
    return True if True in results else None


def _report(
    kind: ImageKind,
    *,
    data: bytes,
    warnings: list[str],
    desc: Descriptor | None = None,
    me_region: RegionReport | None = None,
    me: MeReport | None = None,
    boot_guard: BootGuardReport | None = None,
    verify: bool = False,
) -> InspectReport:
    verified = _modules_verified(me, warnings) if verify and me is not None else None
    return InspectReport(
        schema_version=SCHEMA_VERSION,
        kind=kind,
        size=len(data),
        descriptor=_descriptor_report(desc) if desc is not None else None,
        me_region=me_region,
        me=me,
        boot_guard=boot_guard,
        modules_verified=verified,
        warnings=tuple(warnings),
    )


def _has_layout_table(data: bytes) -> bool:
    from mewarden.firmware.me import ifwi

    return ifwi.parse_layout_table(data) is not None


def inspect_image(data: bytes, *, verify_modules: bool = False) -> InspectReport:
    """Inspect a full SPI image, a bare ME region or a bare descriptor."""
    if not data:
        raise FirmwareFormatError("the file is empty")
    warnings: list[str] = []
    if find_descriptor(data) is not None:
        return _full(data, warnings, verify=verify_modules)
    if fpt.find_fpt(data) is not None or _has_layout_table(data):
        me = analyze_me(data, verify_modules=verify_modules)
        warnings.extend(me.warnings)
        return _report(
            ImageKind.ME_REGION, data=data, me=me, warnings=warnings, verify=verify_modules
        )
    raise FirmwareFormatError(
        "not an Intel flash image, ME region or flash descriptor "
        "(no descriptor signature, no $FPT, no CSE layout table)",
        offset=0,
    )
