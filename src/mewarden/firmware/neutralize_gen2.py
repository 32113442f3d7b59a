"""Code removal inside the FTPR partition of ME 6-10 / TXE 1-2 images (pure planning).

The facts (``../shared/reference/firmware.md`` §1.6, me_cleaner 1.2 semantics, no code copied):

* only ``ROMP`` and ``BUP`` are essential. Uncompressed and LZMA modules are wiped over their own
  bytes; Huffman modules share one ``LLUT`` stream whose chunk table maps 1 KiB pieces of
  uncompressed code to flash. A Huffman module's chunks are found from its load base (chunk 0
  loads at AddrBase + 0x10000000), and every chunk that does not overlap a chunk of an
  essential module is wiped; a chunk runs to the next higher chunk start, the last one to the
  end of the Huffman stream;
* "ME 6 Ignition" firmware (a ``$SKU`` record with a zero SKU after the module headers) is wiped
  entirely.

Parsing (``$MME`` headers, LLUT fields) is :mod:`mewarden.firmware.me.mme`'s; this module
decides what to remove. It returns fills (region-relative, end exclusive) and the end of the
data that must stay; :mod:`mewarden.firmware.neutralize` applies the plan.
"""

from __future__ import annotations

import bisect

from mewarden.errors import FirmwareFormatError
from mewarden.firmware.me.manifest import Manifest
from mewarden.firmware.me.mme import Compression, Llut, MmeModule, parse_llut
from mewarden.record import Record

SKU_TAG = b"$SKU"
ESSENTIAL_MODULES = frozenset({"ROMP", "BUP"})
"""Modules that must stay for the ME to boot far enough to disable its watchdog."""
ADDR_BASE_BIAS = 0x10000000
"""me_cleaner adds this to the LLUT's AddrBase to get the load address of chunk 0."""
EMPTY_CHUNK_MARK = 0x80


class ModuleOutcome(Record):
    """What the plan does with one module; ``start``/``end`` are region-relative when known."""

    name: str
    compression: str
    kept: bool
    reason: str
    start: int | None
    end: int | None


class ModulePlan(Record):
    """Fills that remove modules, what happens to each module, and the end of kept data."""

    fills: tuple[tuple[int, int], ...]
    modules: tuple[ModuleOutcome, ...]
    end: int
    """Region-relative end of the data that must be kept (0 when nothing was planned)."""
    kept_chunks: tuple[tuple[int, int], ...] = ()
    """Huffman chunks kept for essential modules (their bytes must survive unchanged)."""


def clip_fill(start: int, stop: int, region_len: int) -> tuple[int, int] | None:
    """``(start, stop)`` cut to the region; None when nothing of it lies in the region.

    A cleaned and truncated input (me_cleaner ``-t`` output) still names modules whose data
    lies past its end: those bytes are already gone, so there is nothing to wipe.
    """
    stop = min(stop, region_len)
    return (start, stop) if start < stop else None


def compression_name(value: int) -> str:
    """``uncompressed``, ``huffman``, ``lzma`` or ``unknown-N``."""
    try:
        return Compression(value).name.lower()
    except ValueError:
        return f"unknown-{value}"


def is_ignition(region: bytes, manifest: Manifest) -> bool:
    """True for ME 6 "Ignition" firmware: a ``$SKU`` record with SKU 0 after the modules."""
    first = manifest.offset + manifest.header_length + 0xC
    at = first + (manifest.num_modules + 1) * 0x60
    record = region[at : at + 0x0C]
    return record[:4] == SKU_TAG and record[8:12] == b"\x00" * 4


def chunk_ranges(llut: Llut) -> tuple[tuple[int, int], ...]:
    """Each LLUT chunk's region-relative ``(start, end)``; empty chunks are ``(0, 0)``."""
    starts = [0 if c >> 24 == EMPTY_CHUNK_MARK else c & 0xFFFFFF for c in llut.chunks]
    stream_end = llut.huffman_start + llut.huffman_length
    # Duplicates stay in the boundary list on purpose: a start shared by two chunks (or equal
    # to the stream end) is followed by itself, so those chunks are zero-length, as in
    # me_cleaner; byte-identical output depends on it.
    boundaries = sorted([stream_end, *(s for s in starts if s)])
    ranges: list[tuple[int, int]] = []
    for start in starts:
        following = bisect.bisect_left(boundaries, start) + 1
        end = boundaries[following] if start and following < len(boundaries) else start
        ranges.append((start, end))
    return tuple(ranges)


def find_llut(region: bytes, modules: tuple[MmeModule, ...]) -> Llut | None:
    """The LLUT of these modules (at the first Huffman module's data); None without Huffman."""
    huffman = [m for m in modules if m.compression == Compression.HUFFMAN]
    if not huffman:
        return None
    first = modules[0].header_offset
    last = modules[-1].header_offset + modules[-1].header_size
    partition = huffman[0].data_offset - huffman[0].offset
    llut = parse_llut(region, partition, region[first:last], modules[0].header_size)
    if llut is None:
        raise FirmwareFormatError(
            "Huffman modules found, but no LLUT where expected", offset=huffman[0].data_offset
        )
    return llut


def _module_chunks(
    llut: Llut, ranges: tuple[tuple[int, int], ...], module: MmeModule
) -> tuple[tuple[int, int], ...]:
    first = (module.load_base - llut.address_base - ADDR_BASE_BIAS) // llut.chunk_size
    last = first + module.uncompressed_size // llut.chunk_size
    if first < 0:
        raise FirmwareFormatError(f"module {module.name} loads below the LLUT base")
    return ranges[first : last + 1]


class KeptSpans:
    """The kept Huffman chunks, merged, for me_cleaner's overlap test in O(log n) per chunk.

    A chunk ``(start, end)`` is kept when some kept chunk ``(k0, k1)`` has ``k0 <= start < k1``
    or ``k0 < end <= k1`` (me_cleaner's test, kept exactly). Both are point-in-union questions,
    so the kept chunks are merged into disjoint spans once and each chunk costs two bisections
    instead of a scan of every kept chunk (368 x 70 comparisons on an ME 8 image).
    """

    __slots__ = ("_ends", "_starts")

    def __init__(self, kept: list[tuple[int, int]]) -> None:
        spans: list[list[int]] = []
        for k0, k1 in sorted(k for k in kept if k[0] < k[1]):
            if spans and k0 <= spans[-1][1]:
                spans[-1][1] = max(spans[-1][1], k1)
            else:
                spans.append([k0, k1])
        self._starts = [span[0] for span in spans]
        self._ends = [span[1] for span in spans]

    def overlaps(self, chunk: tuple[int, int]) -> bool:
        """True when me_cleaner would keep ``chunk`` for overlapping a kept chunk."""
        start, end = chunk
        i = bisect.bisect_right(self._starts, start) - 1  # a span with k0 <= start < k1
        if i >= 0 and start < self._ends[i]:
            return True
        j = bisect.bisect_left(self._starts, end) - 1  # a span with k0 < end <= k1
        return j >= 0 and end <= self._ends[j]


def _huffman_fills(
    ranges: tuple[tuple[int, int], ...], kept_chunks: list[tuple[int, int]], region_len: int
) -> list[tuple[int, int]]:
    fills: list[tuple[int, int]] = []
    kept = KeptSpans(kept_chunks)
    for chunk in ranges:
        clipped = clip_fill(chunk[0], chunk[1], region_len)
        if clipped is not None and not kept.overlaps(chunk):
            fills.append(clipped)
    return fills


def merged_fills(fills: tuple[tuple[int, int], ...]) -> list[tuple[int, int]]:
    """The same bytes to fill, as few ranges: overlapping or touching fills joined.

    The plan keeps me_cleaner's one fill per module or chunk (what tests and reports compare);
    applying ~400 Huffman chunk fills one by one costs more than the rest of the work.
    """
    merged: list[tuple[int, int]] = []
    for start, end in sorted(f for f in fills if f[0] < f[1]):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def plan_module_removal(region: bytes, modules: tuple[MmeModule, ...]) -> ModulePlan:
    """Plan the removal of every non-essential module of an FTPR partition."""
    fills: list[tuple[int, int]] = []
    outcomes: list[ModuleOutcome] = []
    kept_chunks: list[tuple[int, int]] = []
    llut = find_llut(region, modules)
    ranges = chunk_ranges(llut) if llut is not None else ()
    end = 0
    for module in modules:
        start = module.data_offset
        essential = module.name in ESSENTIAL_MODULES
        kind = compression_name(module.compression)
        if module.compression in (Compression.UNCOMPRESSED, Compression.LZMA):
            stop = start + module.size
            clipped = clip_fill(start, stop, len(region))
            if essential:
                end = max(end, stop)
            elif clipped is not None:
                fills.append(clipped)
            reason = "essential" if essential else "removed"
            outcomes.append(_outcome(module, kind, essential, reason, (start, stop)))
        elif module.compression == Compression.HUFFMAN and llut is not None:
            if essential:
                kept_chunks += [c for c in _module_chunks(llut, ranges, module) if c[0] != 0]
            reason = "essential" if essential else "removed (Huffman chunks)"
            outcomes.append(_outcome(module, kind, essential, reason, None))
        else:
            outcomes.append(_outcome(module, kind, True, "unknown compression, kept", None))
    if llut is not None:
        fills += _huffman_fills(ranges, kept_chunks, len(region))
        if kept_chunks:
            end = max(end, *(c[1] for c in kept_chunks))
    kept = tuple(sorted(set(kept_chunks)))
    return ModulePlan(fills=tuple(fills), modules=tuple(outcomes), end=end, kept_chunks=kept)


def _outcome(
    module: MmeModule,
    kind: str,
    kept: bool,
    reason: str,
    span: tuple[int, int] | None,
) -> ModuleOutcome:
    return ModuleOutcome(
        name=module.name,
        compression=kind,
        kept=kept,
        reason=reason,
        start=span[0] if span else None,
        end=span[1] if span else None,
    )


def keep_all_modules(ftpr: int, length: int, modules: tuple[MmeModule, ...]) -> ModulePlan:
    """The plan of ``--keep-modules``: nothing removed, the whole FTPR partition kept.

    Huffman modules get no byte range: their chunks are interleaved in the shared stream.
    """
    outcomes: list[ModuleOutcome] = []
    for module in modules:
        kind = compression_name(module.compression)
        plain = module.compression in (Compression.UNCOMPRESSED, Compression.LZMA)
        span = (module.data_offset, module.data_offset + module.size) if plain else None
        outcomes.append(_outcome(module, kind, True, "kept (--keep-modules)", span))
    return ModulePlan(fills=(), modules=tuple(outcomes), end=ftpr + length)
