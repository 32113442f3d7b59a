"""A stand-in IDE-R server for the emulator's hand-off (the real one is issue 16's): it answers
the 18-byte StartIDERRedirection of reference amt.md §3.2 with a 30-byte reply."""

from __future__ import annotations

import asyncio
import struct

from mewarden.emulate.device import EmulatedDevice

START_SIZE = 18
REPLY = b"\x41\x00\x00\x00" + struct.pack("<I", 1) + bytes([1, 0]) + bytes(20)


async def serve_ider(
    device: EmulatedDevice,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    *,
    leftover: bytes = b"",
) -> None:
    data = leftover
    while len(data) < START_SIZE:
        more = await reader.read(START_SIZE - len(data))
        if not more:
            return
        data += more
    if data[0] == 0x40:
        writer.write(REPLY)
        await writer.drain()
    await reader.read(1)  # until the client leaves
