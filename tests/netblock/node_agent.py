"""Run inside a node's network namespace: an emulated AMT device plus an RMCP responder.

``python -m tests.netblock.node_agent ADDRESS READY_FILE [--vulnerable]`` serves the emulator
(mewarden.emulate: 16992 web/WS-MAN, 16994 redirection, 9100 host agent) on ADDRESS, answers
the ASF presence ping on UDP 623 with a presence pong, writes READY_FILE and runs until killed.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path
from typing import cast

import mewarden.emulate.fleet as emulated_fleet
from mewarden.emulate.device import FaultKind
from mewarden.emulate.fleet import EmulatedFleet

# RMCP v6, seq 0xff, class ASF, IANA 4542, type 0x40 (presence pong), tag 0, reserved, length 16,
# then 16 data bytes (IANA, OEM, supported entities/interactions): ASF 2.0 section 3.2.4.3.
PRESENCE_PONG = (
    bytes.fromhex("0600ff06")  # RMCP header
    + bytes.fromhex("000011be40000010")  # ASF: IANA, pong, tag, reserved, length
    + bytes.fromhex("000011be00000000810000000000000000")[:16]  # pong data
)


class _Responder(asyncio.DatagramProtocol):
    transport: asyncio.DatagramTransport

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        if len(data) >= 12 and data[8] == 0x80:
            self.transport.sendto(PRESENCE_PONG, addr)


async def main(address: str, ready: Path, vulnerable: bool) -> None:
    # The emulator only accepts loopback addresses (so it can never face a real network). Here
    # it runs inside a network namespace the test created, whose only link is a veth to the
    # test's router, so the node's own address is allowed.
    emulated_fleet.device_addresses = lambda base_ip, nodes: [address]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    async with EmulatedFleet.start(
        nodes=1, base_ip=address, boot_time_s=0.0, listen="per-address", password="Netblock-1!"
    ) as fleet:
        if vulnerable:
            fleet.devices[0].inject(FaultKind.CVE_2017_5689)
        udp, _ = await loop.create_datagram_endpoint(_Responder, local_addr=(address, 623))
        ready.write_text("ready\n")
        await stop.wait()
        udp.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], Path(sys.argv[2]), "--vulnerable" in sys.argv[3:]))
