"""Checks a neutralized ME region must pass, and the FPT checksum neutralize writes (pure).

* FPT checksum (``../shared/reference/firmware.md`` §1.6 item 4): the byte at ``$FPT`` +0x0B
  (region +0x1B) makes the byte-sum zero over the region up to the end of the 0x20-byte FPT
  header (ME 6-10, TXE 1-2: the ROM-bypass vector included) or over the FPT header only (ME 11).
  :func:`~mewarden.firmware.me.fpt.fpt_checksum` computes it for writing; verification
  re-reads the output with the independent parser :func:`mewarden.firmware.me.fpt.parse_fpt`.
* The FTPR signature is re-checked by :func:`mewarden.firmware.me.manifest.parse_manifest`
  (full PKCS#1 v1.5 / PSS, unlike me_cleaner's digest-suffix compare).
"""

from __future__ import annotations

from mewarden.errors import FirmwareFormatError, NeutralizeRefusedError
from mewarden.firmware.me.fpt import fpt_checksum, parse_fpt
from mewarden.firmware.me.manifest import parse_manifest
from mewarden.firmware.neutralize_layout import ImageKind
from mewarden.record import Record

TYPE_CHECKING = False  # typing costs milliseconds at start-up; mypy reads this as True
if TYPE_CHECKING:
    from mewarden.firmware.neutralize_plan import NeutralizePlan

__all__ = [
    "Verification",
    "fpt_checksum",
    "fpt_checksum_valid",
    "manifest_signature_valid",
    "verify_neutralized",
]


def fpt_checksum_valid(region: bytes, fpt: int) -> bool:
    """True when the ``$FPT`` at ``fpt`` re-reads with a valid checksum."""
    try:
        return parse_fpt(region, fpt).checksum_valid
    except FirmwareFormatError:
        return False


def manifest_signature_valid(region: bytes, manifest: int) -> bool:
    """True when the ``$MN2`` manifest at ``manifest`` re-reads with a valid signature."""
    try:
        return parse_manifest(region, manifest).signature_valid is True
    except FirmwareFormatError:
        return False


class Verification(Record):
    """What was checked on the output; ``None`` where the check does not apply."""

    fpt_checksum_valid: bool | None
    ftpr_signature_valid: bool | None
    strap_set: bool | None
    kept_modules_intact: bool | None
    me_access_restricted: bool | None


def _kept_intact(region: bytes, plan: NeutralizePlan) -> bool | None:
    if not plan.kept:
        return None
    for kept in plan.kept:
        moved = region[kept.start + plan.shift : kept.end + plan.shift]
        if moved != kept.content:
            return False
    return True


def _strap_set(output: bytes, plan: NeutralizePlan) -> bool | None:
    from mewarden.firmware.descriptor import parse_descriptor  # full images only

    if plan.strap is None:
        return None
    straps = parse_descriptor(output).straps
    index = plan.strap.strap
    return index < len(straps) and bool(straps[index] >> plan.strap.bit & 1)


def _restricted(output: bytes, plan: NeutralizePlan) -> bool | None:
    from mewarden.firmware.descriptor import parse_descriptor  # full images only

    if not plan.restrict_me_access:
        return None
    me = parse_descriptor(output).master("me")
    return me is not None and set(me.write) <= {"me"}


def verify_neutralized(output: bytes, plan: NeutralizePlan) -> Verification:
    """Re-read ``output`` and check it; raise :class:`NeutralizeRefusedError` on any failure."""
    full = plan.kind is ImageKind.FULL_IMAGE
    region = output[plan.region_start : plan.region_end] if full else output
    checksum = signature = None
    if plan.fpt_offset is not None and plan.manifest is not None:
        checksum = fpt_checksum_valid(region, plan.fpt_offset)
        signature = manifest_signature_valid(region, plan.manifest)
    result = Verification(
        fpt_checksum_valid=checksum,
        ftpr_signature_valid=signature,
        strap_set=_strap_set(output, plan) if full else None,
        kept_modules_intact=_kept_intact(region, plan),
        me_access_restricted=_restricted(output, plan) if full else None,
    )
    failed = [name for name, value in _checks(result) if value is False]
    if failed:
        raise NeutralizeRefusedError(
            f"the neutralized image failed verification ({', '.join(failed)}); nothing was written"
        )
    return result


def _checks(result: Verification) -> tuple[tuple[str, bool | None], ...]:
    return (
        ("FPT checksum", result.fpt_checksum_valid),
        ("FTPR signature", result.ftpr_signature_valid),
        ("ME-disable strap", result.strap_set),
        ("kept modules", result.kept_modules_intact),
        ("FLMSTR2", result.me_access_restricted),
    )
