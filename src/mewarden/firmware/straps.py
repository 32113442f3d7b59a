"""PCH straps: which one disables the ME on which platform, and reading it (pure).

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

Writing a strap needs a parsed descriptor, so it lives above the parser, in
:mod:`mewarden.firmware.strap_writes`; this module stays below it (the parser imports it).
"""

from __future__ import annotations

import enum

from mewarden.record import Record

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


class StrapCandidate(Record):
    """A place some source says the ME-disable bit is."""

    strap: int
    bit: int
    family: str
    source: str


class MeDisableStrap(Record):
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


class StrapLocation(Record):
    """Where one family's ME-disable bit is, how sure we are, and who says so."""

    family: PchFamily
    name: str
    strap: int
    bit: int
    confidence: str
    sources: tuple[str, ...]
    alternatives: tuple[StrapCandidate, ...] = ()


class FamilyEvidence(Record):
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
