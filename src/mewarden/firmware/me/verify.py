"""Module hash verification: ``$MME`` modules (ME 6-10, TXE 1-2) and ``$CPD`` modules (CSME).

API: :func:`mme_check` (region, module) and :func:`cpd_checks` (region, directory, manifest)
describe what to check; :func:`resolve` runs the checks (decoding LZMA modules on a pool of
min(CPUs, :data:`MAX_WORKERS`) threads made for the call: liblzma and hashlib release the GIL)
and gives ``True``/``False``, or ``None`` for a module that cannot be checked.
:func:`module_hash_valid` does both for one ``$MME`` module.

Rules, each established against the real fixtures in ``../shared/firmware-fixtures`` (not
taken from a document; ``tests/firmware/test_me_verify.py``, ``test_me_verify_cse.py``):

* ``$MME``: the header's 32-byte hash (+0x14) is the SHA-256 of the module's *uncompressed*
  bytes, stored byte-reversed (every uncompressed and LZMA module of the ME 7, ME 8 and TXE 2
  regions matches).
* ``$CPD`` (CSME 14 and 16.1 regions, see :mod:`mewarden.firmware.me.cse_meta`): the signed
  partition manifest lists the SHA-256 (CSME 14) or SHA-384 (CSME 16) of each ``<module>.met``;
  the ``.met`` holds the same-sized hash of the module's uncompressed bytes; both byte-reversed.
  A module is True only when both links of that chain match; a wrong ``.met`` is False even
  when the module itself cannot be decoded. A module without a listed ``.met`` is None.
* LZMA modules are ``.lzma`` "alone" streams (13-byte header: props, dictionary size, 8-byte
  length); on TXE 2 and CSME three zero bytes follow the header, told by four zero bytes there
  (a range-coded stream starts with one); output is capped at :data:`MAX_MODULE_SIZE`.
* Huffman modules cannot be checked (the dictionaries are not public): ``None``.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence

from mewarden.firmware.me import cse_meta
from mewarden.firmware.me.cpd import Cpd, CpdEntry
from mewarden.firmware.me.manifest import Manifest
from mewarden.firmware.me.mme import Compression, MmeModule
from mewarden.record import Record

MAX_MODULE_SIZE = 0x1000000  # 16 MiB: more than any ME module; bounds a decompression bomb
MAX_WORKERS = 4
_LZMA_HEADER = 13
_PADDING = 3
_DIGESTS = {0x20: "sha256", 0x30: "sha384"}


class HashCheck(Record, kw_only=False):
    """Hash ``stored`` (decoded first when LZMA) and compare with ``expected`` (as stored)."""

    stored: memoryview
    lzma: bool
    expected: bytes


Outcome = bool | None | HashCheck
"""A decided result, or the check still to run."""


def _lzma(stored: memoryview) -> bytes | None:
    import lzma  # only --verify-modules decodes; plain inspection does not pay for liblzma

    padded = stored[_LZMA_HEADER : _LZMA_HEADER + _PADDING + 1] == bytes(_PADDING + 1)
    bodies = [stored[_LZMA_HEADER:]]
    if padded:  # the likely variant first; the other costs a decode only if this one fails
        bodies.insert(0, stored[_LZMA_HEADER + _PADDING :])
    for body in bodies:
        decoder = lzma.LZMADecompressor(lzma.FORMAT_ALONE)
        try:
            head = decoder.decompress(stored[:_LZMA_HEADER], max_length=MAX_MODULE_SIZE)
            return head + decoder.decompress(body, max_length=MAX_MODULE_SIZE - len(head))
        except lzma.LZMAError:
            continue
    return None


def _run(check: HashCheck) -> bool:
    plain = _lzma(check.stored) if check.lzma else check.stored
    if plain is None:
        return False
    digest = hashlib.new(_DIGESTS[len(check.expected)], plain).digest()
    return digest[::-1] == check.expected


def _workers(count: int) -> int:
    return max(1, min(count, os.cpu_count() or 1, MAX_WORKERS))


def resolve(outcomes: Sequence[Outcome]) -> list[bool | None]:
    """Run the pending checks; LZMA decodes run concurrently (liblzma releases the GIL)."""
    results: list[bool | None] = [o if not isinstance(o, HashCheck) else None for o in outcomes]
    slow = sorted(
        (i for i, o in enumerate(outcomes) if isinstance(o, HashCheck) and o.lzma),
        key=lambda i: -len(_pending(outcomes[i]).stored),  # longest first: better balance
    )
    fast = [i for i, o in enumerate(outcomes) if isinstance(o, HashCheck) and not o.lzma]
    if not slow or _workers(len(slow)) < 2:
        for i in slow + fast:
            results[i] = _run(_pending(outcomes[i]))
        return results
    from concurrent.futures import ThreadPoolExecutor  # ~10 ms of imports: only when decoding

    with ThreadPoolExecutor(max_workers=_workers(len(slow))) as pool:
        futures = [(i, pool.submit(_run, _pending(outcomes[i]))) for i in slow]
        for i in fast:
            results[i] = _run(_pending(outcomes[i]))
        for i, future in futures:
            results[i] = future.result()
    return results


def _pending(outcome: Outcome) -> HashCheck:
    assert isinstance(outcome, HashCheck)
    return outcome


def mme_check(region: bytes, module: MmeModule) -> Outcome:
    """What to check for one ``$MME`` module."""
    if not module.present or module.compression not in (Compression.UNCOMPRESSED, Compression.LZMA):
        return None
    stored = memoryview(region)[module.data_offset : module.data_offset + module.size]
    if len(stored) != module.size:
        return False
    return HashCheck(stored, module.compression == Compression.LZMA, module.hash)


def module_hash_valid(region: bytes, module: MmeModule) -> bool | None:
    """True/False when the module's hash matches or not; None when it cannot be checked."""
    return resolve([mme_check(region, module)])[0]


def _metadata_matches(region: bytes, met: CpdEntry, listed: bytes) -> bool:
    stored = memoryview(region)[met.data_offset : met.data_offset + met.length]
    return len(stored) == met.length and _run(HashCheck(stored, False, listed))


def _cpd_check(region: bytes, directory: Cpd, entry: CpdEntry, listed: bytes | None) -> Outcome:
    met = directory.entry(entry.name + ".met")
    if listed is None or met is None or not entry.present:
        return None  # no signed hash to compare with
    if not _metadata_matches(region, met, listed):
        return False
    attributes = cse_meta.module_attributes(region, met)
    if attributes is None or len(attributes.hash) != len(listed):
        return None
    if entry.huffman or attributes.compression not in (Compression.UNCOMPRESSED, Compression.LZMA):
        return None
    end = entry.data_offset + attributes.stored_size
    stored = memoryview(region)[entry.data_offset : end]
    if len(stored) != attributes.stored_size:
        return False
    return HashCheck(stored, attributes.compression == Compression.LZMA, attributes.hash)


def cpd_checks(region: bytes, directory: Cpd, manifest: Manifest) -> dict[str, Outcome]:
    """What to check for each module (not ``.man``/``.met``/``.key``) of a ``$CPD`` partition.

    ``manifest`` is the partition's parsed ``.man``; with a signature that is not valid every
    module is False (the hashes it lists cannot be trusted), None when it cannot be checked.
    """
    listed = cse_meta.package_hashes(region, manifest)
    outcomes: dict[str, Outcome] = {}
    for entry in directory.entries:
        if entry.name.endswith((".man", ".met", ".key")):
            continue
        if manifest.signature_valid is not True:
            outcomes[entry.name] = manifest.signature_valid
        else:
            outcomes[entry.name] = _cpd_check(region, directory, entry, listed.get(entry.name))
    return outcomes
