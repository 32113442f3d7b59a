"""The IDER device side of the emulator: AMT's end of an IDE-redirection session.

After :mod:`mewarden.emulate.redirection` has started and authenticated an ``IDER`` session it
hands the connection here. :class:`IderDevice` (pure apart from the device it drives) answers
the console's messages (open 0x40 -> 0x41, DisableEnableFeatures 0x48 -> 0x49, ping, close),
checks that the console's sequence numbers go up by exactly one, and while the devices are
connected plays the host: when the host boots with IDER the emulated BIOS
(:mod:`mewarden.emulate.ider_bios`) sends its commands as 0x50 CommandWritten and reads the
console's 0x54 DataToHost / 0x51 CommandEndResponse; what it finds goes to the device model
(:meth:`~mewarden.emulate.model.DeviceState.ider_booted`). Once the installer has run, the
emulated OS unlocks and ejects the CD, as installers do; a host reset during the session is
reported with 0x46. Between the two the installer copies the whole CD (READ CAPACITY, then
READ(10) of ``INSTALL_READ_SECTORS`` at a time), as an installer reads its packages; the
sectors the host read are counted in :attr:`~mewarden.emulate.model.DeviceState.ider_sectors`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Generator
from typing import Any

from mewarden.emulate.device import EmulatedDevice, FaultKind
from mewarden.emulate.ider_bios import bios_boot, read_10
from mewarden.ider import wire
from mewarden.ider.scsi import Opcode, Reply, Sense, SenseKey
from mewarden.ider.wire import DEVICE_CD, DEVICE_FLOPPY, FeatureRegister, IderMessage

POLL_S = 0.02
ENABLE_BIT = 0x01
INSTALL_READ_SECTORS = 32
"""Sectors per READ(10) of the emulated installer (64 KiB, Linux's usual ATAPI request)."""

_EJECT = (
    bytes([Opcode.PREVENT_ALLOW_MEDIUM_REMOVAL, 0, 0, 0, 0]).ljust(12, b"\0"),
    bytes([Opcode.START_STOP_UNIT, 0, 0, 0, 0x02]).ljust(12, b"\0"),
)


class IderDevice:
    """One IDER session, device side."""

    def __init__(self, device: EmulatedDevice) -> None:
        self.device = device
        self.out = bytearray()
        self.sent = 0
        self.expected: int | None = None
        self.enabled = False
        self.closed = False
        self.boots = device.state.boot_count
        self._host: Generator[bytes, Reply, Any] | None = None
        self._host_kind = ""
        self._device = DEVICE_CD
        self._data = b""
        self._waiting = False
        self._copied = False
        self._ejected = False

    def _send(self, message: bytes) -> None:
        self.out += message

    def _next(self) -> int:
        value, self.sent = self.sent, self.sent + 1
        if value == 1 and FaultKind.IDER_SEQUENCE_GAP in self.device.faults:
            value, self.sent = 2, 3  # the fault: one number skipped after the open reply
        return value

    # --- the console's messages -------------------------------------------------------------

    def handle(self, raw: bytes) -> None:
        """One whole message from the console; IderWireError on a sequence gap."""
        sequence = wire.sequence_of(raw)
        if self.expected is not None and sequence != self.expected:
            self.device.state.events.append(self._event("ider-sequence-gap"))
            raise wire.IderWireError(f"sequence {sequence}, expected {self.expected}")
        self.expected = sequence + 1
        kind = raw[0]
        if kind == IderMessage.OPEN:
            self._send(wire.open_reply(self._next()))
        elif kind == IderMessage.FEATURES:
            self._features(raw)
        elif kind == IderMessage.PING:
            self._send(wire.simple(IderMessage.PONG, self._next()))
        elif kind == IderMessage.CLOSE:
            self._send(wire.simple(IderMessage.CLOSE_REPLY, self._next()))
            self.closed = True
        elif kind in (IderMessage.DATA_TO_HOST, IderMessage.COMMAND_END):
            self._completion(wire.parse_completion(raw))

    def _features(self, raw: bytes) -> None:
        register = raw[8]
        if register == FeatureRegister.REGS_TOGGLE:
            value = int.from_bytes(raw[9:13], "little")
            self.enabled = bool(value & ENABLE_BIT)
            self.device.state.ider_attached = self.enabled
            self._send(wire.features_reply(self._next(), FeatureRegister.REGS_TOGGLE, 1))
        elif register == FeatureRegister.REGS_STATUS:
            status = 0x02 if self.enabled else 0
            self._send(wire.features_reply(self._next(), FeatureRegister.REGS_STATUS, status))
        else:
            self._send(wire.features_reply(self._next(), FeatureRegister.REGS_AVAIL, 1))

    def _completion(self, done: wire.Completion) -> None:
        if not self._waiting or self._host is None:
            return  # nothing asked: a confused console; the host ignores it
        self._data += done.data
        if not done.completed:
            return
        sense = _sense(done.sense) if done.sense is not None else None
        reply, self._data, self._waiting = Reply(self._data, sense), b"", False
        try:
            self._issue(self._host.send(reply))
        except StopIteration as finished:
            self._finished(finished.value)

    # --- the host's side --------------------------------------------------------------------

    def tick(self) -> None:
        """Look at the host: report a reset, start the BIOS, eject after the installer."""
        state = self.device.state
        if not self.enabled or self.closed:
            return
        if state.boot_count != self.boots:
            self.boots = state.boot_count
            self._host, self._waiting, self._data = None, False, b""
            self._send(wire.reset_occurred(self._next()))
        if self._host is not None:
            return
        if state.ider_boot_pending:
            self._device = DEVICE_CD if state.ider_cd else DEVICE_FLOPPY
            self._copied = self._ejected = False
            self._start(bios_boot(cd=state.ider_cd), "bios")
        elif self._booted(state) and not self._copied:
            self._copied = True
            self._start(_copy_cd(), "install")
        elif self._booted(state) and state.host_answers and not self._ejected:
            self._ejected = True
            self._start(_eject(), "eject")

    @staticmethod
    def _booted(state: Any) -> bool:
        boot = state.ider_boot
        return bool(boot is not None and boot.bootable and state.ider_cd and state.powered)

    def _start(self, host: Generator[bytes, Reply, Any], kind: str) -> None:
        self._host, self._host_kind = host, kind
        try:
            self._issue(next(host))
        except StopIteration as finished:
            self._finished(finished.value)

    def _issue(self, cdb: bytes) -> None:
        if cdb[0] == Opcode.READ_10:
            self.device.state.ider_sectors += int.from_bytes(cdb[7:9], "big")
        command = wire.Command(device=self._device, cdb=cdb, dma=False)
        self._send(wire.command_written(self._next(), command))
        self._waiting = True

    def _finished(self, result: Any) -> None:
        kind, self._host = self._host_kind, None
        if kind == "bios":
            self.device.state.ider_booted(result, self.device.now())

    def _event(self, kind: str) -> Any:
        from mewarden.emulate.values import DeviceEvent

        return DeviceEvent(at=self.device.now(), kind=kind)

    def detach(self) -> None:
        self.device.state.ider_detached(self.device.now())


def _sense(raw: tuple[int, int, int]) -> Sense:
    key, asc, ascq = raw
    try:
        return Sense(SenseKey(key), asc, ascq)
    except ValueError:
        return Sense(SenseKey.NOT_READY, asc, ascq)  # a key the host does not know: not ready


def _copy_cd() -> Generator[bytes, Reply, None]:
    """The installer reads the whole CD (stops at the first error, as a failed copy does)."""
    reply = yield bytes([Opcode.READ_CAPACITY_10]).ljust(12, b"\0")
    if not reply.good or len(reply.data) < 8:
        return
    blocks = int.from_bytes(reply.data[:4], "big") + 1
    for lba in range(0, blocks, INSTALL_READ_SECTORS):
        count = min(INSTALL_READ_SECTORS, blocks - lba)
        reply = yield read_10(lba, count)
        if not reply.good:
            return


def _eject() -> Generator[bytes, Reply, None]:
    """What an installer does at its end: allow removal, then eject the CD."""
    for cdb in _EJECT:  # noqa: UP028 - the replies are sent in; a tuple cannot take them
        yield cdb


async def serve_ider(
    device: EmulatedDevice,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    *,
    leftover: bytes = b"",
) -> None:
    """The rest of an authenticated IDER connection (``leftover``: bytes already read)."""
    side = IderDevice(device)
    buffer = bytearray(leftover)
    try:
        while not side.closed:
            if FaultKind.AMT_UNREACHABLE in device.faults:
                writer.transport.abort()  # the link dies under the open session
                return
            while (length := wire.message_length(buffer)) is not None and len(buffer) >= length:
                side.handle(bytes(buffer[:length]))
                del buffer[:length]
            side.tick()
            if side.out:
                writer.write(bytes(side.out))
                side.out.clear()
                await writer.drain()
            if side.closed:
                break
            try:
                data = await asyncio.wait_for(reader.read(256 * 1024), POLL_S)
            except TimeoutError:
                continue
            if not data:
                break
            buffer += data
    except wire.IderWireError:
        writer.transport.abort()
    finally:
        side.detach()
        with contextlib.suppress(ConnectionError, RuntimeError):
            await writer.drain()
