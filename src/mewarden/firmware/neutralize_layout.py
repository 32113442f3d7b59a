"""What neutralize needs to know about an image: kind, ME region, FPT, FTPR (pure).

A full SPI image carries a flash descriptor (its ME region is FLREG2); a bare ME region starts with
``$FPT`` at +0x0 or +0x10 (``../shared/reference/firmware.md`` §1.3-§1.4). The FTPR partition
starts with a ``$MN2`` manifest on ME 6-10 / TXE 1-2 and with a ``$CPD`` directory on ME 11; an ME
region without ``$FPT`` at its start but with a CSE layout table is CSME 12+ (IFWI: BPDT layout),
where only the strap is written; a bare CSME 12+ region is recognised so that code removal is
refused with that reason, and an ME region that is neither is corrupt (bad input). The FPT,
CPD and manifest parsers are :mod:`mewarden.firmware.me`'s.
"""

from __future__ import annotations

import enum

from mewarden.errors import BadInputError, FirmwareFormatError, UnsupportedFirmwareError
from mewarden.firmware.flash import all_erased, find_descriptor
from mewarden.firmware.me.cpd import CPD_TAG, parse_cpd
from mewarden.firmware.me.fpt import Fpt, FptEntry, find_fpt, parse_fpt
from mewarden.firmware.me.manifest import Manifest, parse_manifest
from mewarden.record import Record, field

TYPE_CHECKING = False  # typing costs milliseconds at start-up; mypy reads this as True
if TYPE_CHECKING:
    from mewarden.firmware.descriptor import Descriptor
    from mewarden.firmware.fit import BootGuardHints


class ImageKind(enum.StrEnum):
    """A full SPI image (with a descriptor) or a bare ME region."""

    FULL_IMAGE = "full-image"
    ME_REGION = "me-region"


class MeLayout(enum.StrEnum):
    """How the ME firmware is laid out, which decides what can be removed."""

    FPT_MN2 = "fpt-mn2"
    """ME 6-10, TXE 1-2: FTPR starts with the signed manifest; LLUT/Huffman modules."""
    FPT_CPD = "fpt-cpd"
    """ME 11, TXE 3: FTPR is a ``$CPD`` directory."""
    IFWI = "ifwi"
    """CSME 12+: no ``$FPT`` at the region start; strap only."""
    ABSENT = "absent"
    """The descriptor names no ME region, or the region is erased."""


class MeImage(Record):
    """An image as neutralize sees it; ``region`` is the ME region's bytes."""

    data: bytes = field(repr=False)
    kind: ImageKind
    descriptor: Descriptor | None
    region_start: int
    region_end: int
    layout: MeLayout
    fpt: Fpt | None
    ftpr: FptEntry | None
    manifest: Manifest | None
    """The FTPR manifest (offsets relative to the region), its signature checked."""
    boot_guard: BootGuardHints | None

    @property
    def region(self) -> bytes:
        """The ME region's bytes."""
        return self.data[self.region_start : self.region_end]

    @property
    def entries(self) -> tuple[FptEntry, ...]:
        """The FPT entries (none without an FPT)."""
        return self.fpt.entries if self.fpt else ()

    @property
    def fpt_offset(self) -> int | None:
        """Region offset of ``$FPT``."""
        return self.fpt.offset if self.fpt else None

    @property
    def version(self) -> tuple[int, int, int, int] | None:
        """The FTPR manifest's version (major, minor, hotfix, build)."""
        return self.manifest.version_tuple if self.manifest else None


def _boot_guard(data: bytes) -> BootGuardHints:
    from mewarden.firmware.fit import boot_guard_hints  # full images only

    return boot_guard_hints(data)


def _has_layout_table(data: bytes) -> bool:
    from mewarden.firmware.me.ifwi import parse_layout_table  # CSE layouts only

    return parse_layout_table(data) is not None


def _region_bounds(data: bytes) -> tuple[ImageKind, Descriptor | None, int, int]:
    if find_fpt(data) is not None:
        return ImageKind.ME_REGION, None, 0, len(data)
    if find_descriptor(data) is None:
        if _has_layout_table(data):  # a bare CSME 12+ region
            return ImageKind.ME_REGION, None, 0, len(data)
        raise BadInputError(
            "not a flash image or an ME region: no descriptor signature, no $FPT at 0x0/0x10 "
            "and no CSE layout table"
        )
    from mewarden.firmware.descriptor import parse_descriptor  # full images only

    descriptor = parse_descriptor(data)
    me = descriptor.region("me")
    if me is None or not me.used:
        return ImageKind.FULL_IMAGE, descriptor, 0, 0
    if me.end > len(data):
        raise FirmwareFormatError(
            f"the ME region {me.start:#x}-{me.end:#x} lies past the end of the file",
            offset=me.start,
        )
    return ImageKind.FULL_IMAGE, descriptor, me.start, me.end


def _ftpr(table: Fpt) -> FptEntry | None:
    if table.entry("CODE") is not None:
        raise UnsupportedFirmwareError("ME 1-5 firmware (a CODE partition) is not supported")
    return table.entry("FTPR")


def _layout(region: bytes, table: Fpt | None, ftpr: FptEntry | None) -> MeLayout:
    if table is None:
        if all_erased(region):  # also a wiped ME 6 Ignition region
            return MeLayout.ABSENT
        if not _has_layout_table(region):
            raise FirmwareFormatError(
                "the ME region holds neither $FPT at 0x0/0x10 nor a CSE layout table: it is "
                "corrupt or not Intel ME firmware"
            )
        return MeLayout.IFWI
    if ftpr is None:
        raise FirmwareFormatError("the $FPT has no FTPR partition", offset=table.offset)
    if region[ftpr.offset : ftpr.offset + 4] == CPD_TAG:
        return MeLayout.FPT_CPD
    return MeLayout.FPT_MN2


def _manifest(region: bytes, layout: MeLayout, ftpr: FptEntry | None) -> Manifest | None:
    if ftpr is None or layout not in (MeLayout.FPT_MN2, MeLayout.FPT_CPD):
        return None
    offset = ftpr.offset
    if layout is MeLayout.FPT_CPD:
        entry = parse_cpd(region, ftpr.offset, ftpr.length).manifest
        if entry is None:
            raise FirmwareFormatError("the FTPR $CPD has no manifest", offset=ftpr.offset)
        offset = entry.data_offset
    return parse_manifest(region, offset)


def read_me_image(data: bytes) -> MeImage:
    """Read what neutralize needs from a full SPI image or a bare ME region."""
    kind, descriptor, start, end = _region_bounds(data)
    region = data[start:end]
    offset = find_fpt(region) if end > start else None
    table = parse_fpt(region, offset) if offset is not None else None
    ftpr = _ftpr(table) if table is not None else None
    layout = _layout(region, table, ftpr)
    return MeImage(
        data=data,
        kind=kind,
        descriptor=descriptor,
        region_start=start,
        region_end=end,
        layout=layout,
        fpt=table,
        ftpr=ftpr,
        manifest=_manifest(region, layout, ftpr),
        boot_guard=_boot_guard(data) if kind is ImageKind.FULL_IMAGE else None,
    )
