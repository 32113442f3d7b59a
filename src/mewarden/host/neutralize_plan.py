"""``host neutralize``'s decisions (pure): Boot Guard ruling, host access, which regions change.

Facts (``../shared/reference/firmware.md`` §1.10, §4; ``live-me-and-network.md`` §A2, §A6):

* Removing ME code bricks a machine whose Boot Guard verifies the boot (me_cleaner #6, #26, #34);
  setting the HAP/AltMeDisable strap alone is considered safe. Enforcement is fused in the PCH,
  so it is ruled out only by evidence: a platform older than Boot Guard (ME before 9), or the
  live registers saying it is not enforced, and in both cases no Boot Guard manifests (KM/BPM in
  the FIT) in the image. Any source that says enforced wins.
* The PCH enforces the descriptor's FLMSTR1 (host) bits: a region the host may not write fails
  part-way. It becomes writable with the Flash Descriptor Override strap (the board's
  service-mode jumper, HDA_SDO on most boards; the ME then reports COM=4), by HMRFPO (COM=5), or
  with an external SPI programmer on the chip itself.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from mewarden.errors import NeutralizeRefusedError
from mewarden.firmware.descriptor import Descriptor
from mewarden.firmware.flashrom import FlashRegion

BOOT_GUARD_FIRST_MAJOR = 9
"""ME 9 (Haswell/Lynx Point) is the first generation with Boot Guard (it needs ME >= 9.5)."""

WRITE_ORDER = (FlashRegion.ME, FlashRegion.BIOS, FlashRegion.GBE, FlashRegion.FD)
"""The descriptor goes last: each prefix of this order leaves a chip that boots (a stripped ME
without the strap, or the strap with the old ME), and a bad descriptor is the worst brick."""

UNLOCK_ADVICE = (
    "assert the Flash Descriptor Override strap (the board's service-mode jumper, HDA_SDO on "
    "most boards; 'host probe' then shows override, COM=4) and reboot, or enable HMRFPO "
    "(COM=5), or write the chip with an external SPI programmer (e.g. --programmer ch341a_spi)"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class BootGuardRuling:
    """Whether Boot Guard is ruled out, and the evidence either way."""

    ruled_out: bool
    evidence: tuple[str, ...]


def rule_out_boot_guard(
    *,
    live: str,
    live_evidence: tuple[str, ...],
    me_major: int | None,
    manifests_present: bool | None,
) -> BootGuardRuling:
    """Rule Boot Guard out only by evidence (see the module docstring)."""
    lines = [f"live probe: Boot Guard {live}", *live_evidence]
    if manifests_present:
        lines.append("the image's FIT references Boot Guard manifests (KM/BPM)")
        return BootGuardRuling(ruled_out=False, evidence=tuple(lines))
    if manifests_present is None:
        lines.append("the image has no readable FIT: Boot Guard manifests not ruled out")
        return BootGuardRuling(ruled_out=False, evidence=tuple(lines))
    lines.append("the image references no Boot Guard manifests")
    if live == "enforced":
        return BootGuardRuling(ruled_out=False, evidence=tuple(lines))
    if live == "not-enforced":
        return BootGuardRuling(ruled_out=True, evidence=tuple(lines))
    if me_major is not None and me_major < BOOT_GUARD_FIRST_MAJOR:
        lines.append(f"ME {me_major} predates Boot Guard (first in ME {BOOT_GUARD_FIRST_MAJOR})")
        return BootGuardRuling(ruled_out=True, evidence=tuple(lines))
    version = f"ME {me_major}" if me_major is not None else "an unknown ME version"
    lines.append(f"{version} may have Boot Guard and the live registers do not rule it out")
    return BootGuardRuling(ruled_out=False, evidence=tuple(lines))


def boot_guard_refusal(ruling: BootGuardRuling) -> NeutralizeRefusedError:
    """The refusal to remove code while Boot Guard is not ruled out."""
    return NeutralizeRefusedError(
        "Boot Guard is not ruled out (" + "; ".join(ruling.evidence[-2:]) + "): removing ME "
        "code bricks machines that enforce it; use --mode disable-only (sets the strap only)"
    )


def override_unlocks(verdict: str, evidence: tuple[str, ...]) -> tuple[str, ...]:
    """Regions a live security override opens to the host whatever FLMSTR1 says.

    COM=4 (the Flash Descriptor Override strap) lifts the descriptor's access control for every
    region; COM=5 (HMRFPO) makes the ME region host-writable (``live-me-and-network.md`` §A6).
    """
    if verdict != "override":
        return ()
    text = " ".join(evidence)
    if "COM=4" in text:
        return ("fd", "bios", "me", "gbe")
    if "COM=5" in text:
        return ("me",)
    return ()


def host_access_refusal(
    descriptor: Descriptor,
    *,
    read: tuple[str, ...],
    write: tuple[str, ...],
    unlocked: tuple[str, ...] = (),
) -> str | None:
    """Why the host (FLMSTR1, less what ``unlocked`` opens) cannot read ``read`` and write
    ``write``, or None when it can."""
    host = descriptor.master("bios")
    if host is None:
        if set(read) | set(write) <= set(unlocked):
            return None
        return f"the descriptor on the flash has no FLMSTR1 (host) entry; {UNLOCK_ADVICE}"
    cannot_read = [r for r in read if r not in host.read and r not in unlocked]
    cannot_write = [r for r in write if r not in host.write and r not in unlocked]
    if not cannot_read and not cannot_write:
        return None
    parts = []
    if cannot_write:
        parts.append(f"write the {', '.join(cannot_write)} region(s)")
    if cannot_read:
        parts.append(f"read the {', '.join(cannot_read)} region(s)")
    return (
        f"the descriptor on the flash does not let the host {' or '.join(parts)} "
        f"(FLMSTR1 = {host.raw:#010x}; read: {', '.join(host.read) or 'nothing'}, write: "
        f"{', '.join(host.write) or 'nothing'}), so flashrom through the PCH would fail "
        f"part-way or could not back up and verify; {UNLOCK_ADVICE}"
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class RegionWrite:
    """One descriptor region the neutralized image changes."""

    region: FlashRegion
    start: int
    end: int
    old_sha256: str
    new_sha256: str


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def changed_regions(descriptor: Descriptor, before: bytes, after: bytes) -> tuple[RegionWrite, ...]:
    """The regions that differ, in :data:`WRITE_ORDER`; refuses a change outside them."""
    if len(before) != len(after):
        raise NeutralizeRefusedError("the neutralized image has another size than the chip")
    writes: list[RegionWrite] = []
    spans: list[tuple[int, int]] = []
    for region in WRITE_ORDER:
        found = descriptor.region(region.value)
        if found is None or not found.used or found.end > len(before):
            continue
        spans.append((found.start, found.end))
        old, new = before[found.start : found.end], after[found.start : found.end]
        if old != new:
            writes.append(
                RegionWrite(
                    region=region,
                    start=found.start,
                    end=found.end,
                    old_sha256=_sha(old),
                    new_sha256=_sha(new),
                )
            )
    position = 0
    for start, end in [*sorted(spans), (len(before), len(before))]:
        if start > position and before[position:start] != after[position:start]:
            raise NeutralizeRefusedError(
                f"the neutralized image changes bytes in {position:#x}-{start:#x}, outside "
                "every region flashrom can write"
            )
        position = max(position, end)
    return tuple(writes)


def readable_regions(descriptor: Descriptor) -> tuple[str, ...]:
    """The used regions flashrom knows by name (the backup must hold all of them)."""
    names = {r.value for r in FlashRegion}
    return tuple(r.name for r in descriptor.regions if r.used and r.name in names)
