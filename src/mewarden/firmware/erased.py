"""Erased flash: every byte 0xFF."""

from __future__ import annotations

_PAGE = 0x1000


def all_erased(data: bytes | bytearray) -> bool:
    """True when every byte is 0xFF (erased flash, a wiped region).

    The first page decides for almost every real image, so the whole buffer (often 2 MiB and
    more, scanned several times per command) is only counted when that page is erased too.
    """
    head = data[:_PAGE]
    return head.count(0xFF) == len(head) and data.count(0xFF) == len(data)
