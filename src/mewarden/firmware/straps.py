"""PCH straps: which one disables the ME on which platform, reading it, and setting it (pure).

The ME-disable strap moved over the years (``../shared/reference/firmware.md`` §1.8):

* ICH8-ICH10 (ME 2-5): ``MeDisable`` bits in ICHSTRP0/MCHSTRP0;
* every IFD v1 PCH from Ibex Peak to Wildcat Point (ME 6-10): ``AltMeDisable``, PCHSTRP10 bit 7;
* Sunrise/Union Point (100/200-series, ME 11): ``HAP``, PCHSTRP0 bit 16;
* later platforms: HAP bit 16 of a platform-specific strap, known only from community forks that
  disagree with each other, so those rows are ``unverified`` and carry the disputed alternatives.

coreboot's ``ifdtool -M 1`` writes PCHSTRP0 bit 16 on *every* IFD v2 descriptor, which is right
only for Sunrise/Union Point (and, untested, Apollo/Gemini Lake); it is listed as a candidate,
never used as the answer for other families.

The family is told from the descriptor by discriminators seen on real descriptors (strap count
PSL, a few strap values; see ``docs/firmware-straps.md``). Where none matches, the family is
unknown and the candidates are listed: mewarden never guesses where to write.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mewarden.errors import (
    BadInputError,
    FirmwareFormatError,
    NeutralizeRefusedError,
    UnsupportedFirmwareError,
)

if TYPE_CHECKING:
    from mewarden.firmware.descriptor import Descriptor

HAP_BIT = 16
ALT_ME_DISABLE_STRAP = 10
ALT_ME_DISABLE_BIT = 7

_ME_CLEANER = "corna/me_cleaner 1.2 (-S/-s)"
_IFDTOOL = "coreboot util/ifdtool (-M 1)"
_IFDTOOL_V2 = "coreboot util/ifdtool -M 1 (writes PCHSTRP0 bit 16 on every IFD v2)"
_MANGOKIWI = "MangoKiwiPlumGrape/me_cleaner_thinkpad fork"
_XUTAX = "XutaxKamay/me_cleaner fork"
_DT_ZERO = "dt-zero/me_cleaner PR #282"


class PchFamily(enum.StrEnum):
    """Groups of PCHs/SoCs that share one ME-disable strap location."""

    ICH8_10 = "ich8-10"
    PCH_IFD1 = "ibex-peak..wildcat-point"
    TXE_SOC_IFD1 = "bay-trail/braswell"
    SUNRISE_POINT = "sunrise/union-point"
    APOLLO_GEMINI_LAKE = "apollo/gemini-lake"
    CANNON_POINT_LP = "cannon/comet/ice-point-lp"
    CANNON_POINT_H = "cannon-point-h"
    COMET_POINT_H = "comet-point-h"
    JASPER_LAKE = "jasper-lake"
    TIGER_POINT_LP_ALDER_POINT_P = "tiger-point-lp/alder-point-p"
    ALDER_POINT_N = "alder-point-n"
    TIGER_POINT_H = "tiger-point-h"
    ELKHART_LAKE = "elkhart-lake"
    ALDER_POINT_S = "alder-point-s"
    METEOR_LAKE = "meteor-lake"
    LEWISBURG = "lewisburg"
    EMMITSBURG = "emmitsburg"


@dataclass(frozen=True, slots=True, kw_only=True)
class StrapCandidate:
    """A place some source says the ME-disable bit is."""

    strap: int
    bit: int
    family: str
    source: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MeDisableStrap:
    """The ME-disable strap of a descriptor as far as it can be told.

    ``name`` is ``MeDisable``, ``AltMeDisable``, ``HAP`` or ``unknown``; ``set`` is ``None`` when
    the location is unknown. ``candidates`` lists where it could be whenever the location is not
    known with confidence (``confidence`` other than ``verified``).
    """

    name: str
    strap: int | None
    bit: int | None
    set: bool | None
    confidence: str
    candidates: tuple[StrapCandidate, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class StrapLocation:
    """Where one family's ME-disable bit is, how sure we are, and who says so."""

    family: PchFamily
    name: str
    strap: int
    bit: int
    confidence: str
    sources: tuple[str, ...]
    alternatives: tuple[StrapCandidate, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class FamilyEvidence:
    """What the descriptor offers to tell the PCH family (filled by the descriptor parser)."""

    ifd2: bool
    ich: bool
    descriptor_size: int
    read_clock_17mhz: bool
    psl: int
    straps: tuple[int, ...]


def _hap(family: PchFamily, strap: int, *sources: str) -> StrapLocation:
    alternatives = (StrapCandidate(strap=0, bit=HAP_BIT, family="any IFD v2", source=_IFDTOOL_V2),)
    return StrapLocation(
        family=family,
        name="HAP",
        strap=strap,
        bit=HAP_BIT,
        confidence="unverified",
        sources=sources,
        alternatives=alternatives,
    )


def _with_alternative(location: StrapLocation, strap: int, source: str) -> StrapLocation:
    extra = StrapCandidate(strap=strap, bit=HAP_BIT, family=location.family.value, source=source)
    return StrapLocation(
        family=location.family,
        name=location.name,
        strap=location.strap,
        bit=location.bit,
        confidence=location.confidence,
        sources=location.sources,
        alternatives=(*location.alternatives, extra),
    )


_F = PchFamily
LOCATIONS: dict[PchFamily, StrapLocation] = {
    _F.ICH8_10: StrapLocation(
        family=_F.ICH8_10,
        name="MeDisable",
        strap=0,
        bit=0,
        confidence="verified",
        sources=(_ME_CLEANER, _IFDTOOL),
    ),
    _F.PCH_IFD1: StrapLocation(
        family=_F.PCH_IFD1,
        name="AltMeDisable",
        strap=ALT_ME_DISABLE_STRAP,
        bit=ALT_ME_DISABLE_BIT,
        confidence="verified",
        sources=(_ME_CLEANER, _IFDTOOL),
    ),
    _F.TXE_SOC_IFD1: StrapLocation(
        family=_F.TXE_SOC_IFD1,
        name="AltMeDisable",
        strap=ALT_ME_DISABLE_STRAP,
        bit=ALT_ME_DISABLE_BIT,
        confidence="unverified",
        sources=(_ME_CLEANER + " applies the gen-2 rule to TXE 1/2", _IFDTOOL),
    ),
    _F.SUNRISE_POINT: StrapLocation(
        family=_F.SUNRISE_POINT,
        name="HAP",
        strap=0,
        bit=HAP_BIT,
        confidence="verified",
        sources=(_ME_CLEANER, _IFDTOOL, "fixture nethsm X11SSH-TF (ifdtool -M 1, HAP set)"),
    ),
    _F.APOLLO_GEMINI_LAKE: StrapLocation(
        family=_F.APOLLO_GEMINI_LAKE,
        name="HAP",
        strap=0,
        bit=HAP_BIT,
        confidence="unverified",
        sources=(_IFDTOOL_V2 + ", untested on APL/GLK",),
    ),
    _F.CANNON_POINT_LP: _with_alternative(
        _hap(_F.CANNON_POINT_LP, 28, _MANGOKIWI, "me_cleaner PR #384 comment (X13 Gen1)", _XUTAX),
        32,
        _XUTAX + " (puts all ME 14 at PCHSTRP32)",
    ),
    _F.CANNON_POINT_H: _hap(_F.CANNON_POINT_H, 32, _DT_ZERO, _MANGOKIWI),
    _F.COMET_POINT_H: _hap(_F.COMET_POINT_H, 32, _XUTAX),
    _F.JASPER_LAKE: _hap(_F.JASPER_LAKE, 26, _MANGOKIWI),
    _F.TIGER_POINT_LP_ALDER_POINT_P: _hap(_F.TIGER_POINT_LP_ALDER_POINT_P, 31, _XUTAX, _MANGOKIWI),
    _F.ALDER_POINT_N: _with_alternative(
        _hap(_F.ALDER_POINT_N, 31, _MANGOKIWI),
        55,
        "daemon32 fork note (MFIT toggles PCHSTRP31 and PCHSTRP55)",
    ),
    _F.TIGER_POINT_H: _hap(_F.TIGER_POINT_H, 37, _MANGOKIWI),
    _F.ELKHART_LAKE: _hap(_F.ELKHART_LAKE, 33, _MANGOKIWI),
    _F.ALDER_POINT_S: _hap(_F.ALDER_POINT_S, 55, _XUTAX, _MANGOKIWI),
}
"""ME-disable location per family; families absent here (Meteor Lake, servers) are unknown."""


def me_disable_location(family: PchFamily | str) -> StrapLocation | None:
    """The ME-disable strap location of ``family``, or None where no source gives one."""
    try:
        key = PchFamily(family)
    except ValueError:
        return None
    return LOCATIONS.get(key)


def _strap(straps: tuple[int, ...], index: int) -> int | None:
    return straps[index] if index < len(straps) else None


def _detect_ifd2(ev: FamilyEvidence) -> PchFamily | None:
    psl = ev.psl
    if ev.descriptor_size == 0x4000:
        return PchFamily.METEOR_LAKE
    if psl in (66, 88) and ev.read_clock_17mhz:
        return PchFamily.SUNRISE_POINT
    if psl == 70 and _strap(ev.straps, 52) == 0x300:
        model = ((_strap(ev.straps, 31) or 0) >> 1) & 0xFF
        if model == 0x51:
            return PchFamily.ALDER_POINT_N
        if model == 0x18:
            return PchFamily.TIGER_POINT_LP_ALDER_POINT_P
        return None
    by_count = {
        23: PchFamily.APOLLO_GEMINI_LAKE,
        56: PchFamily.ELKHART_LAKE,
        69: PchFamily.CANNON_POINT_LP,
        80: PchFamily.EMMITSBURG,
        101: PchFamily.TIGER_POINT_H,
        139: PchFamily.LEWISBURG,
    }
    if psl == 115 and _strap(ev.straps, 52) not in (None, 0x300):
        return PchFamily.ALDER_POINT_S
    return by_count.get(psl)


def detect_family(ev: FamilyEvidence) -> PchFamily | None:
    """The PCH family the descriptor's straps point to, or None when they do not tell."""
    if ev.ich:
        return PchFamily.ICH8_10
    if ev.ifd2:
        return _detect_ifd2(ev)
    # IFD v1 PCHs carry 17+ straps; the Bay Trail/Braswell SoC descriptors carry 11 and 14.
    if ev.psl in (11, 14):
        return PchFamily.TXE_SOC_IFD1
    if ev.psl >= 17:
        return PchFamily.PCH_IFD1
    return None


def _join(*parts: str) -> str:
    unique = dict.fromkeys(p for part in parts for p in part.split("; ") if p)
    return "; ".join(unique)


def all_candidates(ifd2: bool) -> tuple[StrapCandidate, ...]:
    """Every location any source names for descriptors of this IFD version (deduplicated)."""
    found: dict[tuple[int, int], StrapCandidate] = {}
    for location in LOCATIONS.values():
        if (location.bit == HAP_BIT) != ifd2 or location.family is PchFamily.ICH8_10:
            continue
        own = StrapCandidate(
            strap=location.strap,
            bit=location.bit,
            family=location.family,
            source="; ".join(location.sources),
        )
        for item in (own, *location.alternatives):
            key = (item.strap, item.bit)
            seen = found.get(key)
            found[key] = (
                item
                if seen is None
                else StrapCandidate(
                    strap=item.strap,
                    bit=item.bit,
                    family=_join(seen.family, item.family),
                    source=_join(seen.source, item.source),
                )
            )
    return tuple(found[k] for k in sorted(found))


def read_me_disable(
    family: PchFamily | None, straps: tuple[int, ...], *, ifd2: bool
) -> MeDisableStrap:
    """The ME-disable state of these straps for ``family`` (unknown with candidates if need be)."""
    location = me_disable_location(family) if family is not None else None
    if location is None or location.strap >= len(straps):
        return MeDisableStrap(
            name="unknown",
            strap=None,
            bit=None,
            set=None,
            confidence="unknown",
            candidates=all_candidates(ifd2),
        )
    value = straps[location.strap]
    own = StrapCandidate(
        strap=location.strap,
        bit=location.bit,
        family=location.family,
        source="; ".join(location.sources),
    )
    verified = location.confidence == "verified"
    return MeDisableStrap(
        name=location.name,
        strap=location.strap,
        bit=location.bit,
        set=bool(value >> location.bit & 1),
        confidence=location.confidence,
        candidates=() if verified else (own, *location.alternatives),
    )


def resolve_location(descriptor: Descriptor, platform: PchFamily | str | None) -> StrapLocation:
    """The location to write on this descriptor; refuses when the family is not known.

    ``platform`` names the family explicitly (the user's ``--platform``) when the straps do not
    tell it; it must not contradict a family the straps do tell.
    """
    detected = descriptor.pch_family
    if platform is not None:
        try:
            chosen = PchFamily(platform)
        except ValueError:
            names = ", ".join(f.value for f in PchFamily)
            raise BadInputError(  # a typo in an option is bad input, not an unsafe request
                f"unknown platform {platform!r} for --platform; known families: {names}"
            ) from None
        if detected is not None and detected != chosen.value:
            raise NeutralizeRefusedError(
                f"the descriptor's straps say PCH family {detected}, not {chosen.value}; "
                "refusing to write a strap for another platform"
            )
    elif detected is None:
        raise NeutralizeRefusedError(
            "the PCH family cannot be told from this descriptor, so the ME-disable strap "
            "location is unknown; name the family explicitly (--platform) if you know it"
        )
    else:
        chosen = PchFamily(detected)
    location = me_disable_location(chosen)
    if location is None:
        raise NeutralizeRefusedError(
            f"no source gives the ME-disable strap of PCH family {chosen.value}; refusing to guess"
        )
    return location


def set_me_disable(data: bytes, descriptor: Descriptor, location: StrapLocation) -> bytes:
    """A copy of ``data`` with the ME-disable bit at ``location`` set (nothing else changed).

    The result is re-parsed and the bit read back before it is returned.
    """
    if location.family is PchFamily.ICH8_10:
        raise UnsupportedFirmwareError(
            "ICH8-10 (ME 2-5) descriptors are not supported for strap writes"
        )
    if (location.bit == HAP_BIT) != (descriptor.version == 2):
        raise NeutralizeRefusedError(
            f"the {location.name} location of {location.family.value} does not apply to an "
            f"IFD v{int(descriptor.version)} descriptor"
        )
    if location.strap >= len(descriptor.straps):
        raise FirmwareFormatError(
            f"the descriptor has {len(descriptor.straps)} straps, "
            f"so PCHSTRP{location.strap} does not exist",
            offset=descriptor.strap_base,
        )
    position = descriptor.strap_base + 4 * location.strap
    if position + 4 > len(data):
        raise FirmwareFormatError(
            "the strap section lies past the end of the file", offset=position
        )
    (value,) = struct.unpack_from("<I", data, position)
    patched = bytearray(data)
    struct.pack_into("<I", patched, position, value | (1 << location.bit))
    result = bytes(patched)
    _verify_strap(result, descriptor.offset, location)
    return result


def _verify_strap(data: bytes, offset: int, location: StrapLocation) -> None:
    from mewarden.firmware.descriptor import parse_descriptor

    reparsed = parse_descriptor(data)
    if reparsed.offset != offset or not reparsed.straps[location.strap] >> location.bit & 1:
        raise FirmwareFormatError(
            f"PCHSTRP{location.strap} bit {location.bit} did not read back as set"
        )


FLMSTR2_V2_ME_ONLY = 0x00400500
"""IFD v2 FLMSTR2 granting the ME read of FD+ME and write of ME only (me_cleaner -d)."""
_FLMSTR2_V1_ME_BITS = 0x04040000
_FLMSTR2_V1_KEEP = 0x0404FFFF


def restrict_me_access(data: bytes, descriptor: Descriptor) -> bytes:
    """A copy of ``data`` whose FLMSTR2 lets the ME master reach only its own region.

    IFD v2: FLMSTR2 = 0x00400500 (read FD+ME, write ME); IFD v1: read/write ME only with the
    requester ID kept (the semantics of me_cleaner ``-d``, reference §1.6 item 9).
    """
    position = descriptor.master_base + 4
    if len(descriptor.masters) < 2 or position + 4 > len(data):
        raise FirmwareFormatError("the descriptor has no FLMSTR2", offset=position)
    (old,) = struct.unpack_from("<I", data, position)
    if descriptor.version == 2:
        new = FLMSTR2_V2_ME_ONLY
    else:
        new = (old | _FLMSTR2_V1_ME_BITS) & _FLMSTR2_V1_KEEP
    patched = bytearray(data)
    struct.pack_into("<I", patched, position, new)
    return bytes(patched)
