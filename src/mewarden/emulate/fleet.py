"""Many emulated AMT devices in one process: listeners, faults, the in-process API.

Usage (see docs/emulator.md)::

    async with EmulatedFleet.start(nodes=3, base_ip=None, password="P@ssw0rd1") as fleet:
        dev = fleet.devices[0]
        ...

Two listening layouts:

* ``per-address`` (default while file descriptors allow): each device has its own listeners on
  its own loopback address, so a refused or closed port is exactly that device's.
* ``shared``: one listener per port on the wildcard address, restricted to the loopback
  interface (``SO_BINDTODEVICE lo``); the device is the connection's local address. Used
  automatically when ``nodes x ports`` would exceed the open-file limit (10,000 devices).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import random
import resource
import secrets
import socket
import string
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from mewarden.emulate.device import DeviceConfig, EmulatedDevice, FaultKind, Ports
from mewarden.emulate.hostsetup_state import HostTrust
from mewarden.emulate.kvm import serve_vnc
from mewarden.emulate.redirection import serve_redirection
from mewarden.emulate.tlscert import CertificateStore
from mewarden.emulate.values import ControlMode, Identity, Timing
from mewarden.emulate.webserver import AmtHttp, serve_agent
from mewarden.errors import BadInputError, ConfigError
from mewarden.fsutil import atomic_write_text
from mewarden.secret import Secret

ListenMode = Literal["auto", "per-address", "shared"]
Handler = Callable[[EmulatedDevice, asyncio.StreamReader, asyncio.StreamWriter], object]
ACTION_KINDS = frozenset(
    {
        "power-request",
        "power-off",
        "boot-start",
        "boot-complete",
        "re-enrolled",
        "boot-failed",
        "boot-settings-changed",
    }
)
_LOOPBACK = ipaddress.ip_network("127.0.0.0/8")
_SHARED_BACKLOG = 4096
"""Pending connections one shared listener holds (the kernel caps it at net.core.somaxconn)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ActionRecord:
    """One power or boot action (or its effect) on one device."""

    at: float
    wall_time: float
    address: str
    kind: str
    detail: str


def raise_open_file_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit; return the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = max(soft, 1 << 20)
    if soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
    return soft


def generate_password() -> str:
    """A password AMT accepts (upper, lower, digit and symbol; 16 characters)."""
    body = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(12))
    return f"A{body}z7!"


def device_addresses(base_ip: str, nodes: int) -> list[str]:
    """``nodes`` consecutive addresses from ``base_ip``, all inside 127.0.0.0/8."""
    try:
        first = ipaddress.IPv4Address(base_ip)
    except ValueError:
        raise BadInputError(f"base IP {base_ip!r} is not an IPv4 address") from None
    last = first + max(nodes - 1, 0) if int(first) + nodes - 1 <= 0xFFFFFFFF else None
    if first not in _LOOPBACK or last is None or last not in _LOOPBACK:
        raise BadInputError(f"{nodes} devices from {base_ip} do not fit inside 127.0.0.0/8")
    return [str(first + i) for i in range(nodes)]


class EmulatedFleet:
    """A running fleet. Build it with :meth:`start` (an async context manager)."""

    def __init__(
        self, devices: list[EmulatedDevice], config: DeviceConfig, certs: CertificateStore
    ) -> None:
        self.devices = devices
        self.config = config
        self.by_address = {d.address: d for d in devices}
        self.http = AmtHttp(lambda d: certs.context(d.address, d.uuid))
        self.http.after_request = self.sync_vnc
        self.listen_mode: str = "per-address"
        self._servers: list[asyncio.Server] = []
        self._vnc: dict[str, asyncio.Server] = {}
        """Per-address mode: the port 5900 listeners of the devices that enabled it (AMT opens
        5900 only then, so a scanner sees it closed otherwise)."""
        self._open: dict[asyncio.StreamWriter, asyncio.Task[object] | None] = {}

    @property
    def password(self) -> Secret:
        return self.config.password

    # --- the in-process API -------------------------------------------------------------------

    def device(self, address: str) -> EmulatedDevice:
        found = self.by_address.get(address)
        if found is None:
            raise BadInputError(f"no emulated device at {address}")
        return found

    def inject_fault(self, address: str, kind: FaultKind | str) -> None:
        fault = kind if isinstance(kind, FaultKind) else FaultKind.parse(kind)
        self.device(address).inject(fault)

    def clear_faults(self, address: str) -> None:
        self.device(address).clear()

    def consent_code(self, address: str) -> str | None:
        """The user-consent code shown on the device's screen (None when none is shown)."""
        return self.device(address).state.opt_in_code

    @property
    def action_log(self) -> list[ActionRecord]:
        """Every power and boot action, with device and time, oldest first."""
        offset = self.config.wall_offset
        records = [
            ActionRecord(
                at=e.at, wall_time=e.at + offset, address=d.address, kind=e.kind, detail=e.detail
            )
            for d in self.devices
            if d.materialized
            for e in d.state.events
            if e.kind in ACTION_KINDS
        ]
        return sorted(records, key=lambda r: r.at)

    # --- start and stop -----------------------------------------------------------------------

    @classmethod
    @contextlib.asynccontextmanager
    async def start(
        cls,
        *,
        nodes: int = 3,
        base_ip: str | None = "127.20.0.1",
        tls: bool = False,
        password: str | Secret | None = None,
        boot_time_s: float = 20.0,
        state_dir: str | Path | None = None,
        clock: Callable[[], float] | None = None,
        mode: ControlMode = ControlMode.CLIENT,
        timing: Timing | None = None,
        ports: Ports | None = None,
        listen: ListenMode = "auto",
        host_trust: HostTrust | None = None,
    ) -> AsyncIterator[EmulatedFleet]:
        """Start ``nodes`` devices; ``base_ip=None`` picks a free 127.x.y.1 block."""
        if nodes < 1:
            raise BadInputError("an emulated fleet needs at least one device")
        secret = password if isinstance(password, Secret) else Secret(password or "")
        if not secret:
            secret = Secret(generate_password())
        chosen_clock = clock or time.monotonic
        config = DeviceConfig(
            timing=timing or Timing(boot_time_s=boot_time_s),
            password=secret,
            mode=mode,
            clock=chosen_clock,
            wall_offset=time.time() - chosen_clock(),
            ports=ports or Ports(),
            tls=tls,
            host_trust=host_trust or HostTrust(),
        )
        certs = CertificateStore(Path(state_dir) if state_dir is not None else None)
        fleet = await cls._bind_somewhere(nodes, base_ip, config, certs, listen)
        try:
            yield fleet
        finally:
            await fleet.close()

    @classmethod
    async def _bind_somewhere(
        cls,
        nodes: int,
        base_ip: str | None,
        config: DeviceConfig,
        certs: CertificateStore,
        listen: ListenMode,
    ) -> EmulatedFleet:
        attempts = 1 if base_ip is not None else 20
        rng = random.Random()  # noqa: S311 - choosing a free loopback block
        for attempt in range(attempts):
            base = base_ip or f"127.{rng.randrange(100, 250)}.{rng.randrange(0, 255)}.1"
            devices = [
                EmulatedDevice(Identity.derive(index=i, address=a, seed=base), config)
                for i, a in enumerate(device_addresses(base, nodes))
            ]
            fleet = cls(devices, config, certs)
            try:
                await fleet._listen(listen)
            except OSError as exc:
                await fleet.close()
                if attempt + 1 >= attempts:
                    raise ConfigError(
                        f"cannot listen on {base} (ports {config.ports.http}...): {exc.strerror}"
                    ) from None
                continue
            return fleet
        raise AssertionError("unreachable")

    def _handlers(self) -> list[tuple[int, Handler]]:
        ports = self.config.ports
        handlers: list[tuple[int, Handler]] = [
            (ports.http, lambda d, r, w: self.http.serve(d, r, w, tls=False)),
            (ports.redirection, serve_redirection),
            (ports.agent, serve_agent),
        ]
        if self.config.tls:
            handlers.append((ports.tls, lambda d, r, w: self.http.serve(d, r, w, tls=True)))
            handlers.append(
                (
                    ports.redirection_tls,
                    lambda d, r, w: serve_redirection(d, r, w, start_tls=self.http.start_tls),
                )
            )
        return handlers

    async def _listen(self, listen: ListenMode) -> None:
        handlers = self._handlers()
        limit = raise_open_file_limit()
        needed = len(self.devices) * len(handlers) + 512
        shared = listen == "shared" or (listen == "auto" and needed > limit)
        self.listen_mode = "shared" if shared else "per-address"
        if shared:  # one wildcard listener for 5900 too; a device that has it off resets
            await self._listen_shared(self.config.ports.vnc, serve_vnc)
        for port, handler in handlers:
            if shared:
                await self._listen_shared(port, handler)
            else:
                for device in self.devices:
                    await self._listen_one(device, port, handler)

    async def sync_vnc(self, device: EmulatedDevice) -> None:
        """Open or close ``device``'s port 5900 as its KVM settings say (per-address mode;
        called after every WS-MAN request, and by tests that change the state directly)."""
        if self.listen_mode != "per-address":
            return
        wanted = device.state.kvm.is_5900_port_enabled
        server = self._vnc.get(device.address)
        if wanted and server is None:
            try:
                await self._listen_one(device, self.config.ports.vnc, serve_vnc)
            except OSError:
                return  # the port is taken on this machine: 5900 stays closed
            self._vnc[device.address] = self._servers[-1]
        elif server is not None and not wanted:
            del self._vnc[device.address]
            self._servers.remove(server)
            server.close()

    async def _listen_one(self, device: EmulatedDevice, port: int, handler: Handler) -> None:
        async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await _run(handler, device, reader, writer, self._open)

        server = await asyncio.start_server(
            accept, host=device.address, port=port, reuse_address=True, backlog=128
        )
        self._servers.append(server)

    async def _listen_shared(self, port: int, handler: Handler) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            # Only the loopback interface: nothing outside this machine can reach it.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"lo")
            sock.bind(("0.0.0.0", port))  # noqa: S104 - restricted to lo just above
            sock.listen(_SHARED_BACKLOG)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise

        async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            local = writer.get_extra_info("sockname")
            device = self.by_address.get(local[0]) if local else None
            if device is None:
                writer.transport.abort()
                return
            await _run(handler, device, reader, writer, self._open)

        # start_server listens again with its own backlog (default 100): pass ours, or a burst
        # of connects overflows it and the dropped SYNs come back a second later, timed out
        server = await asyncio.start_server(accept, sock=sock, backlog=_SHARED_BACKLOG)
        self._servers.append(server)

    async def close(self) -> None:
        servers, self._servers = self._servers, []
        for server in servers:
            server.close()
        tasks = [t for t in self._open.values() if t is not None]
        for writer in list(self._open):
            writer.transport.abort()
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=2.0)
        for server in servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 2.0)

    def write_ready_file(self, path: str | Path) -> None:
        """Write the JSON list of device addresses (every listener accepts by now)."""
        import json

        atomic_write_text(path, json.dumps([d.address for d in self.devices]) + "\n")


async def _run(
    handler: Handler,
    device: EmulatedDevice,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    open_writers: dict[asyncio.StreamWriter, asyncio.Task[object] | None],
) -> None:
    open_writers[writer] = asyncio.current_task()
    try:
        result = handler(device, reader, writer)
        if asyncio.iscoroutine(result):
            await result
    except (ConnectionError, TimeoutError):
        writer.transport.abort()
    except asyncio.CancelledError:
        # The fleet is closing. This is the connection's own top-level task: end it quietly
        # (asyncio's stream callback would log a cancelled connection task as an error).
        writer.transport.abort()
    finally:
        open_writers.pop(writer, None)
