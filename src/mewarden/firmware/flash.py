"""What any flash image shows at a glance: erased bytes, and where a descriptor would start.

Kept apart from :mod:`mewarden.firmware.descriptor` so that telling a bare ME region from a
full image does not load the descriptor and strap parsers (a few milliseconds of every
``firmware inspect`` run, which users time against me_cleaner).
"""

from __future__ import annotations

SIGNATURE = b"\x5a\xa5\xf0\x0f"
"""FLVALSIG, the flash descriptor's signature."""
PCH_SIGNATURE_OFFSET = 0x10
"""Where the signature sits from ICH10/PCH on; ICH8-9 descriptors start with it."""
_PAGE = 0x1000


def find_descriptor(data: bytes) -> int | None:
    """File offset of the descriptor signature (at 0x10, or 0 for ICH8-10), or None."""
    if data[PCH_SIGNATURE_OFFSET : PCH_SIGNATURE_OFFSET + 4] == SIGNATURE:
        return PCH_SIGNATURE_OFFSET
    if data[:4] == SIGNATURE:
        return 0
    return None


def all_erased(data: bytes | bytearray) -> bool:
    """True when every byte is 0xFF (erased flash, a wiped region).

    The first page decides for almost every real image, so the whole buffer (often 2 MiB and
    more, scanned several times per command) is only counted when that page is erased too.
    """
    head = data[:_PAGE]
    return head.count(0xFF) == len(head) and data.count(0xFF) == len(data)
