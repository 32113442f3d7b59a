"""``python -m tests.netblock.listener ADDRESS READY_FILE PORT...``: accept TCP and close.

Stands in for an MPS (CIRA on 4433/8443) in the end-to-end test; runs until killed.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path


async def main(address: str, ready: Path, ports: list[int]) -> None:
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)

    async def accept(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    servers = [await asyncio.start_server(accept, address, port) for port in ports]
    ready.write_text("ready\n")
    await stop.wait()
    for server in servers:
        server.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], Path(sys.argv[2]), [int(p) for p in sys.argv[3:]]))
