"""Code removal inside the ``$CPD`` FTPR partition of ME 11 / TXE 3 images (pure planning).

Facts (``../shared/reference/firmware.md`` §1.7, me_cleaner 1.2 semantics, no code copied):
entries sorted by offset each extend to the next one, the last one to the partition length.
Kept: names ending ``.man`` (the signed partition manifest) or ``.met`` (module metadata) and
names starting ``rbe``, ``kernel``, ``syslib`` or ``bup`` (hash-checked together); everything
else is wiped. The CPD header itself is not modified, so no CPD checksum changes. Parsing the
directory is :mod:`mewarden.firmware.me.cpd`'s.
"""

from __future__ import annotations

from mewarden.firmware.me.cpd import parse_cpd
from mewarden.firmware.neutralize_gen2 import ModuleOutcome, ModulePlan, clip_fill

ESSENTIAL_PREFIXES = ("rbe", "kernel", "syslib", "bup")


def _keep_reason(name: str) -> str | None:
    if name.endswith(".man"):
        return "partition manifest"
    if name.endswith(".met"):
        return "module metadata"
    if name.startswith(ESSENTIAL_PREFIXES):
        return "essential"
    return None


def _kind(name: str, huffman: bool) -> str:
    if name.endswith((".man", ".met")):
        return "uncompressed"
    return "huffman" if huffman else "lzma/uncompressed"


def plan_cpd_removal(region: bytes, partition: int, length: int) -> ModulePlan:
    """Plan the removal of every non-essential CPD entry of the FTPR partition."""
    entries = sorted(parse_cpd(region, partition, length).entries, key=lambda e: e.offset)
    bounds = [e.offset for e in entries[1:]] + [length]
    fills: list[tuple[int, int]] = []
    outcomes: list[ModuleOutcome] = []
    end = 0
    for entry, stop_rel in zip(entries, bounds, strict=True):
        start, stop = partition + entry.offset, partition + stop_rel
        reason = _keep_reason(entry.name)
        clipped = clip_fill(start, stop, len(region))
        if reason is None and clipped is not None:
            fills.append(clipped)
        elif reason is not None:
            end = max(end, stop)
        outcomes.append(
            ModuleOutcome(
                name=entry.name,
                compression=_kind(entry.name, entry.huffman),
                kept=reason is not None,
                reason=reason or "removed",
                start=start,
                end=stop,
            )
        )
    return ModulePlan(fills=tuple(fills), modules=tuple(outcomes), end=end)
