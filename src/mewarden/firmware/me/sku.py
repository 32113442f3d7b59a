"""The firmware SKU of pre-CSE images (ME 6-10, TXE 0-2) from the FTPR manifest's ``$SKU`` record.

API: :func:`mme_sku` (data, the parsed FTPR :class:`Manifest`, family ``"ME"``/``"TXE"``) ->
``"1.5MB"``, ``"5MB"``, ``"1.375MB"``, ... or None.

Facts (MEAnalyzer ``SKU_Attributes`` and its per-version SKU rules, reference §2.3): the record
is ``$SKU``, a size in dwords (3 or 4), then the attributes. It follows the ``$MME`` headers
inside the manifest. ME 6: the dword at +8 read big-endian (0 Ignition, 0x701C0000 1.5MB,
0x77DCEE00/0x77FCEE00/0xF7FEFE00 5MB mobile, 0x77DC6E00/0x77FC6E00/0xF7FE7E00 5MB desktop).
ME 7-10 and TXE: byte +0x0B bit 7 = Slim (ME 7); byte +0x0C: bit 7 Patsburg, bits 4-6 SKU type
(ME 9-10: 0 5MB, 1 1.5MB, 2 Slim), bits 0-3 size in 0.5 MB units (ME 7-8: 3 => 1.5MB,
10 => 5MB; TXE 0-1: 1.5-2 MB => 1.25MB on x.0, else 1.375MB, 2.5-3 MB => 3MB; TXE 2:
1.5 MB => 1.375MB).

Checked against the SKUs MEAnalyzer reports for the fixtures (``../shared/reference``
§5): ME 7.1 lumpy and ME 8.0 link 1.5MB, ME 8.1 ga-b75m-d3h 5MB, TXE 2.0 fbg1701 1.375MB.
ME 6, ME 9-10 and TXE 0-1 follow MEAnalyzer's rules without a fixture to check them on.
"""

from __future__ import annotations

from mewarden.firmware.me.manifest import Manifest

SKU_TAG = b"$SKU"
_ME6 = {
    0x00000000: "Ignition",
    0x701C0000: "1.5MB",
    0x77DCEE00: "5MB mobile",
    0x77FCEE00: "5MB mobile",
    0xF7FEFE00: "5MB mobile",
    0x77DC6E00: "5MB desktop",
    0x77FC6E00: "5MB desktop",
    0xF7FE7E00: "5MB desktop",
}
_SIZE_SKUS = {3: "1.5MB", 10: "5MB"}  # ME 7-8: size field in 0.5 MB units
_TYPE_SKUS = {0: "5MB", 1: "1.5MB", 2: "Slim"}  # ME 9-10


def find_sku_record(data: bytes, parsed: Manifest) -> int | None:
    """Offset of the ``$SKU`` record inside the manifest, or None."""
    at = parsed.offset + parsed.header_length
    end = min(parsed.offset + parsed.size, len(data)) - 0x10
    while 0 <= (at := data.find(SKU_TAG, at, end + 4)) <= end:
        if data[at + 4] in (3, 4) and data[at + 5 : at + 8] == b"\0\0\0":
            return at
        at += 1
    return None


def _txe(major: int, minor: int, size: int) -> str | None:
    if major in (0, 1) and size in (3, 4):
        return "1.25MB" if minor == 0 else "1.375MB"
    if major in (0, 1) and size in (5, 6):
        return "3MB"
    if major == 2 and size == 3:
        return "1.375MB"
    return None


def mme_sku(data: bytes, parsed: Manifest, family: str) -> str | None:
    """The SKU MEAnalyzer would report for an ME 6-10 / TXE 0-2 image; None if not derivable."""
    at = find_sku_record(data, parsed)
    if at is None:
        return None
    major, minor = parsed.version_tuple[:2]
    if family == "TXE":
        return _txe(major, minor, data[at + 0xC] & 0xF)
    if family != "ME":
        return None
    if major == 6:
        return _ME6.get(int.from_bytes(data[at + 8 : at + 0xC], "big"))
    if major == 7 and data[at + 0xB] & 0x80:
        return "Slim"
    if major in (7, 8):
        return _SIZE_SKUS.get(data[at + 0xC] & 0xF)
    if major in (9, 10):
        return _TYPE_SKUS.get((data[at + 0xC] >> 4) & 7)
    return None
