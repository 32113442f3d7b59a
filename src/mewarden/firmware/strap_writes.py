"""Setting the ME-disable strap and restricting the ME master in a parsed descriptor (pure).

The per-family table and the strap reading live in :mod:`mewarden.firmware.straps`, below the
descriptor parser; these writers need a parsed :class:`~mewarden.firmware.descriptor.Descriptor`
and re-parse their output, so they sit above both.
"""

from __future__ import annotations

import struct

from mewarden.errors import (
    BadInputError,
    FirmwareFormatError,
    NeutralizeRefusedError,
    UnsupportedFirmwareError,
)
from mewarden.firmware.descriptor import Descriptor, parse_descriptor
from mewarden.firmware.straps import HAP_BIT, PchFamily, StrapLocation, me_disable_location

__all__ = ["FLMSTR2_V2_ME_ONLY", "resolve_location", "restrict_me_access", "set_me_disable"]


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
