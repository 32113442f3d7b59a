"""The Intel Flash Descriptor (IFD): regions, master access, PCH straps (pure parser).

Layout facts (``../shared/reference/firmware.md`` §1.3, §3.1): the signature ``5A A5 F0 0F`` sits
at +0x10 of a PCH descriptor (at +0 of an ICH8-10 one); FLMAP0/1/2 follow it and give the section
bases FCBA, FRBA, FMBA, FPSBA (with the strap count PSL) and FMSBA, each ``byte << 4`` relative to
the descriptor start. FLREGn holds a region's base and limit in 4 KiB units (15-bit fields on
IFD v2, 13-bit on v1); a limit below the base marks the region unused. FLMSTRn gives each
master's read/write region bits (v1: read 16+, write 24+; v2: read 8+, write 20+, regions 12-15
in bits 0-7).

IFD v2 (Skylake and later) is told from v1 by its region section: v2 has room for 16 FLREGs
(0x40 bytes between FRBA and FMBA) where v1 has room for at most 8. This holds on every real
descriptor in the fixture corpus, including the Gemini Lake v2 and the Bay Trail/Braswell v1 ones.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Mapping

from mewarden.errors import FirmwareFormatError
from mewarden.firmware.flash import PCH_SIGNATURE_OFFSET, find_descriptor
from mewarden.firmware.straps import (
    FamilyEvidence,
    MeDisableStrap,
    PchFamily,
    StrapCandidate,
    detect_family,
    read_me_disable,
)
from mewarden.record import Record

__all__ = [
    "Descriptor",
    "IfdVersion",
    "MasterAccess",
    "MeDisableStrap",
    "Region",
    "StrapCandidate",
    "find_descriptor",
    "parse_descriptor",
    "replace_regions",
]

DESCRIPTOR_SIZE = 0x1000

REGION_NAMES = (
    "fd",
    "bios",
    "me",
    "gbe",
    "pd",
    "devexp",
    "bios2",
    "res7",
    "ec",
    "devexp2",
    "ie",
    "10gbe_0",
    "10gbe_1",
    "res13",
    "res14",
    "ptt",
)
"""Region names by FLREG index, as ``ifdtool`` spells them."""

MASTER_NAMES = ("bios", "me", "gbe", "res4", "ec", "res6")
"""Master names by FLMSTR index (FLMSTR1 = host CPU/BIOS)."""

_V1_MAX_REGIONS = 5
_V2_MAX_REGIONS = 16
_V1_MASTERS = 3
_V2_MASTERS = 5
_DENSITY_NOT_PRESENT = 0xF
_ISL_4BIT_DENSITY = 0x13
_ERASED = 0xFFFFFFFF  # an erased FLREG slot is no region, though its limit >= base


class IfdVersion(enum.IntEnum):
    """Flash descriptor layout generation."""

    V1 = 1
    V2 = 2


class Region(Record):
    """One flash region; ``end`` is exclusive; unused regions have ``used=False``."""

    index: int
    name: str
    start: int
    end: int
    used: bool


class MasterAccess(Record):
    """Which regions one bus master (host/BIOS, ME, GbE, EC) may read and write."""

    name: str
    raw: int
    read: tuple[str, ...]
    write: tuple[str, ...]


class Descriptor(Record):
    """A parsed flash descriptor.

    ``offset`` is the file offset of the signature; ``size`` the descriptor region size (0x1000,
    or 0x4000 on Meteor Lake); ``straps`` the PCHSTRPn dwords, PCHSTRP0 at file offset
    ``strap_base``; ``master_base`` the file offset of FLMSTR1.
    """

    offset: int
    size: int
    version: IfdVersion
    flash_size: int | None
    regions: tuple[Region, ...]
    masters: tuple[MasterAccess, ...]
    straps: tuple[int, ...]
    strap_base: int
    master_base: int
    pch_family: str | None
    me_disable: MeDisableStrap
    warnings: tuple[str, ...]

    def region(self, name: str) -> Region | None:
        """The region called ``name`` (ifdtool spelling), or None."""
        for region in self.regions:
            if region.name == name:
                return region
        return None

    def master(self, name: str) -> MasterAccess | None:
        """The master called ``name`` (``bios``, ``me``, ``gbe``, ``ec``), or None."""
        for master in self.masters:
            if master.name == name:
                return master
        return None


class _Map(Record):
    base: int  # file offset of the descriptor start
    ich: bool
    fcba: int
    frba: int
    fmba: int
    fpsba: int
    psl: int
    components: int
    isl: int


def _u32(data: bytes, offset: int, what: str) -> int:
    if offset < 0 or offset + 4 > len(data):
        raise FirmwareFormatError(f"descriptor {what} lies past the end of the file", offset=offset)
    value: int = struct.unpack_from("<I", data, offset)[0]
    return value


def _read_map(data: bytes, signature: int) -> _Map:
    flmap0 = _u32(data, signature + 4, "FLMAP0")
    flmap1 = _u32(data, signature + 8, "FLMAP1")
    ich = signature == 0
    base = signature if ich else signature - PCH_SIGNATURE_OFFSET
    return _Map(
        base=base,
        ich=ich,
        fcba=(flmap0 & 0xFF) << 4,
        frba=((flmap0 >> 16) & 0xFF) << 4,
        fmba=(flmap1 & 0xFF) << 4,
        fpsba=((flmap1 >> 16) & 0xFF) << 4,
        psl=flmap1 >> 24,
        components=((flmap0 >> 8) & 3) + 1,
        isl=flmap1 >> 24,
    )


def _is_ifd2(fmap: _Map) -> bool:
    return not fmap.ich and fmap.fmba - fmap.frba >= 4 * _V2_MAX_REGIONS


def _region_count(fmap: _Map, ifd2: bool) -> int:
    room = (fmap.fmba - fmap.frba) // 4 if fmap.fmba > fmap.frba else _V1_MAX_REGIONS
    return max(1, min(room, _V2_MAX_REGIONS if ifd2 else _V1_MAX_REGIONS))


def _read_regions(data: bytes, fmap: _Map, ifd2: bool) -> tuple[Region, ...]:
    mask = 0x7FFF if ifd2 else 0xFFF
    regions = []
    for index in range(_region_count(fmap, ifd2)):
        flreg = _u32(data, fmap.base + fmap.frba + 4 * index, f"FLREG{index}")
        start = (flreg & mask) << 12
        limit = ((flreg >> 16) & mask) << 12 | 0xFFF
        regions.append(
            Region(
                index=index,
                name=REGION_NAMES[index],
                start=start,
                end=limit + 1,
                used=limit >= start and flreg != _ERASED,
            )
        )
    return tuple(regions)


def _decode_master(name: str, raw: int, ifd2: bool, names: tuple[str, ...]) -> MasterAccess:
    read: list[str] = []
    write: list[str] = []
    for index, region in enumerate(names):
        if ifd2 and index >= 12:
            read_bit, write_bit = index - 12, index - 8
        elif ifd2:
            read_bit, write_bit = 8 + index, 20 + index
        else:
            read_bit, write_bit = 16 + index, 24 + index
        if raw >> read_bit & 1:
            read.append(region)
        if raw >> write_bit & 1:
            write.append(region)
    return MasterAccess(name=name, raw=raw, read=tuple(read), write=tuple(write))


def _read_masters(
    data: bytes, fmap: _Map, ifd2: bool, regions: tuple[Region, ...], warnings: list[str]
) -> tuple[MasterAccess, ...]:
    names = tuple(region.name for region in regions)
    masters = []
    for index in range(_V2_MASTERS if ifd2 else _V1_MASTERS):
        position = fmap.base + fmap.fmba + 4 * index
        if position + 4 > len(data):
            warnings.append(f"master section truncated after FLMSTR{index}")
            break
        (raw,) = struct.unpack_from("<I", data, position)
        masters.append(_decode_master(MASTER_NAMES[index], raw, ifd2, names))
    return tuple(masters)


def _read_straps(data: bytes, fmap: _Map, warnings: list[str]) -> tuple[int, ...]:
    start = fmap.base + fmap.fpsba
    count = fmap.psl
    available = max(0, (len(data) - start) // 4)
    if count > available:
        warnings.append(f"strap section truncated: {available} of {count} straps present")
        count = available
    return struct.unpack_from(f"<{count}I", data, start) if count else ()


def _flash_size(data: bytes, fmap: _Map, ifd2: bool, warnings: list[str]) -> int | None:
    position = fmap.base + fmap.fcba
    if position + 4 > len(data):
        warnings.append("component section lies past the end of the file")
        return None
    (flcomp,) = struct.unpack_from("<I", data, position)
    four_bit = ifd2 or fmap.isl >= _ISL_4BIT_DENSITY
    width, mask = (4, 0xF) if four_bit else (3, 0x7)
    total = 0
    for component in range(fmap.components):
        density = flcomp >> (width * component) & mask
        if density == _DENSITY_NOT_PRESENT or density > 7:
            warnings.append(f"flash component {component + 1} has no valid density")
            return None
        total += 0x80000 << density
    return total


def _reads_at_17mhz(data: bytes, fmap: _Map) -> bool:
    position = fmap.base + fmap.fcba
    if position + 4 > len(data):
        return False
    flcomp: int = struct.unpack_from("<I", data, position)[0]
    return (flcomp >> 17) & 7 == 6  # read clock field 6 = 17 MHz, the Sunrise Point setting


def _check_regions(
    regions: tuple[Region, ...], flash_size: int | None, warnings: list[str]
) -> None:
    for region in regions:
        if region.used and flash_size is not None and region.end > flash_size:
            warnings.append(
                f"region {region.name} ends at {region.end:#x}, past the flash size {flash_size:#x}"
            )
    me = regions[2] if len(regions) > 2 else None
    if me is not None and not me.used:
        warnings.append("the ME region is unused in this descriptor")


def _hap_note(family: PchFamily | None, straps: tuple[int, ...], ifd2: bool) -> str | None:
    if not ifd2 or family in (PchFamily.SUNRISE_POINT, PchFamily.APOLLO_GEMINI_LAKE):
        return None
    if straps and straps[0] >> 16 & 1:
        return (
            "PCHSTRP0 bit 16 is set (where ifdtool -M 1 writes on every IFD v2); "
            "it is the HAP bit only on Sunrise/Union Point"
        )
    return None


def _family(
    data: bytes, fmap: _Map, *, size: int, straps: tuple[int, ...], warnings: list[str]
) -> PchFamily | None:
    ifd2 = _is_ifd2(fmap)
    evidence = FamilyEvidence(
        ifd2=ifd2,
        ich=fmap.ich,
        descriptor_size=size,
        read_clock_17mhz=_reads_at_17mhz(data, fmap),
        psl=fmap.psl,
        straps=straps,
    )
    family = detect_family(evidence)
    if family is None:
        warnings.append("the PCH family cannot be told from the straps")
    note = _hap_note(family, straps, ifd2)
    if note:
        warnings.append(note)
    return family


def parse_descriptor(data: bytes) -> Descriptor:
    """Parse the flash descriptor at the start of ``data`` (a full image or a bare descriptor)."""
    signature = find_descriptor(data)
    if signature is None:
        raise FirmwareFormatError("no flash descriptor signature 5AA5F00F at 0x0 or 0x10", offset=0)
    warnings: list[str] = []
    fmap = _read_map(data, signature)
    ifd2 = _is_ifd2(fmap)
    regions = _read_regions(data, fmap, ifd2)
    if not regions[0].used or regions[0].start != fmap.base:
        raise FirmwareFormatError("region 0 (the descriptor itself) is not at its start", offset=0)
    size = regions[0].end - regions[0].start
    if len(data) < size:
        warnings.append(f"descriptor truncated: {len(data):#x} of {size:#x} bytes present")
    flash_size = _flash_size(data, fmap, ifd2, warnings)
    _check_regions(regions, flash_size, warnings)
    masters = _read_masters(data, fmap, ifd2, regions, warnings)
    straps = _read_straps(data, fmap, warnings)
    family = _family(data, fmap, size=size, straps=straps, warnings=warnings)
    return Descriptor(
        offset=signature,
        size=size,
        version=IfdVersion.V2 if ifd2 else IfdVersion.V1,
        flash_size=flash_size,
        regions=regions,
        masters=masters,
        straps=straps,
        strap_base=fmap.base + fmap.fpsba,
        master_base=fmap.base + fmap.fmba,
        pch_family=family.value if family is not None else None,
        me_disable=read_me_disable(family, straps, ifd2=ifd2),
        warnings=tuple(warnings),
    )


def encode_flreg(start: int, end: int, version: IfdVersion) -> int:
    """The FLREG value for a region ``start``..``end`` (exclusive), 4 KiB aligned."""
    mask = 0x7FFF if version is IfdVersion.V2 else 0xFFF
    if start % 0x1000 or end % 0x1000 or end <= start:
        raise FirmwareFormatError(f"region {start:#x}-{end:#x} is not 4 KiB aligned and non-empty")
    base, limit = start >> 12, (end - 1) >> 12
    if base > mask or limit > mask:
        raise FirmwareFormatError(
            f"region {start:#x}-{end:#x} does not fit an IFD v{version} FLREG"
        )
    return limit << 16 | base


def replace_regions(
    data: bytes, descriptor: Descriptor, changes: Mapping[str, tuple[int, int]]
) -> bytes:
    """A copy of ``data`` whose FLREGs give the named regions new ``(start, end)`` bounds.

    Used to shrink the ME region and grow the BIOS region in an extracted descriptor after
    truncation (me_cleaner ``-D`` with ``-t``); the result is re-parsed before it is returned.
    """
    patched = bytearray(data)
    frba = descriptor.offset - (0 if descriptor.offset == 0 else PCH_SIGNATURE_OFFSET)
    frba += (_u32(data, descriptor.offset + 4, "FLMAP0") >> 16 & 0xFF) << 4
    for name, (start, end) in changes.items():
        region = descriptor.region(name)
        if region is None:
            raise FirmwareFormatError(f"the descriptor has no {name} region")
        flreg = encode_flreg(start, end, descriptor.version)
        struct.pack_into("<I", patched, frba + 4 * region.index, flreg)
    result = bytes(patched)
    parse_descriptor(result)
    return result
