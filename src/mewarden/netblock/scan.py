"""``mewarden scan``: probe addresses for exposed AMT and compare with each node's policy.

The I/O shell around :mod:`mewarden.netblock.probe`: asyncio TCP connects to 16992-16995 and
5900, the ``/index.htm`` banner and CVE-2017-5689 check on an open 16992 (HTTP) and on an open
16993 (TLS: AMT's certificate is self-signed or org-issued, and a scanner proves exposure, not
identity, so it is not verified), and the RMCP presence ping on UDP 623. Every probe has a
timeout and all probes share one semaphore, so a scan of a large range never has more than
``concurrency`` sockets open. A local error on one port (say EADDRNOTAVAIL) becomes that port's
``error`` result; the rest of the scan goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import ssl
from collections.abc import Iterable
from dataclasses import dataclass

from mewarden.errors import BadInputError
from mewarden.netblock.inventory import NetblockInventory, NodePolicy
from mewarden.netblock.ports import HOST_AGENT_PORT, RMCP_PORT, SCAN_TCP_PORTS
from mewarden.netblock.probe import (
    RMCP_PRESENCE_PING,
    CveVerdict,
    HttpHead,
    PortState,
    Vantage,
    banner_request,
    empty_response_authorization,
    findings,
    is_amt_server,
    is_presence_pong,
    parse_head,
    verdict,
    worst,
)

MAX_TARGETS = 65536
_READ_LIMIT = 64 * 1024
HTTP_PORT, TLS_PORT = 16992, 16993
_UNREACHABLE = (errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EACCES, errno.EPERM)
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True, slots=True, kw_only=True)
class ScanOptions:
    """Per-probe timeout (seconds), concurrency bound, agent port, and where the scan runs."""

    timeout: float = 1.0
    concurrency: int = 256
    agent_port: int | None = HOST_AGENT_PORT
    vantage: Vantage = Vantage.CONTROLLER


@dataclass(frozen=True, slots=True, kw_only=True)
class PortResult:
    """One TCP port's state (with the message when it is ``error``)."""

    port: int
    state: PortState
    error: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TargetReport:
    """What one address exposes, and what of that contradicts its node's policy."""

    address: str
    node: str
    policy: NodePolicy
    ports: tuple[PortResult, ...]
    agent: PortState | None
    server: str
    rmcp: bool
    cve_2017_5689: CveVerdict
    findings: tuple[str, ...]

    @property
    def open_amt_ports(self) -> tuple[int, ...]:
        """The AMT ports that accepted a connection."""
        return tuple(p.port for p in self.ports if p.state is PortState.OPEN)


def expand_targets(texts: Iterable[str]) -> tuple[IpAddress, ...]:
    """Addresses and CIDRs to a sorted, de-duplicated address list (bounded)."""
    found: set[IpAddress] = set()
    for text in texts:
        try:
            net = ipaddress.ip_network(text.strip(), strict=False)
        except ValueError:
            raise BadInputError(f"scan target {text!r} is not an address or CIDR") from None
        if net.num_addresses > MAX_TARGETS:
            raise BadInputError(f"scan target {text} has more than {MAX_TARGETS} addresses")
        found.update(net.hosts() if net.num_addresses > 2 else net)
        if len(found) > MAX_TARGETS:
            raise BadInputError(f"more than {MAX_TARGETS} scan targets")
    return tuple(sorted(found, key=lambda a: (a.version, a)))


#: Node networks larger than this are skipped by ``--fleet`` (an IPv6 /64 cannot be swept).
MAX_FLEET_NETWORK = 256


def fleet_targets(inventory: NetblockInventory) -> tuple[IpAddress, ...]:
    """Every address of every node, skipping networks of more than 256 addresses."""
    return expand_targets(
        str(net)
        for node in inventory.nodes
        for net in node.addresses
        if net.num_addresses <= MAX_FLEET_NETWORK
    )


async def scan(
    targets: Iterable[IpAddress], inventory: NetblockInventory, options: ScanOptions
) -> tuple[TargetReport, ...]:
    """Scan every target; results in target order."""
    gate = asyncio.Semaphore(options.concurrency)
    jobs = [_scan_one(a, inventory, options, gate) for a in targets]
    return tuple(await asyncio.gather(*jobs))


async def _scan_one(
    address: IpAddress, inventory: NetblockInventory, options: ScanOptions, gate: asyncio.Semaphore
) -> TargetReport:
    host = str(address)
    ports = tuple(await asyncio.gather(*(_tcp(host, p, options, gate) for p in SCAN_TCP_PORTS)))
    agent = None
    if options.agent_port is not None:
        agent = (await _tcp(host, options.agent_port, options, gate)).state
    rmcp = await _rmcp(host, options, gate)
    open_ports = tuple(p.port for p in ports if p.state is PortState.OPEN)
    checks = [
        await _http_checks(host, port, options, gate)
        for port in (HTTP_PORT, TLS_PORT)
        if port in open_ports
    ]
    server = next((banner for banner, _ in checks if banner), "")
    cve = worst(tuple(v for _, v in checks))
    node = inventory.node_for(address)
    return TargetReport(
        address=host,
        node=node.name,
        policy=node.policy,
        ports=ports,
        agent=agent,
        server=server,
        rmcp=rmcp,
        cve_2017_5689=cve,
        findings=findings(node.policy, open_ports, rmcp, cve, options.vantage),
    )


async def _tcp(host: str, port: int, options: ScanOptions, gate: asyncio.Semaphore) -> PortResult:
    async with gate:
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), options.timeout)
        except TimeoutError:
            return PortResult(port=port, state=PortState.FILTERED)
        except ConnectionRefusedError:
            return PortResult(port=port, state=PortState.CLOSED)
        except OSError as exc:
            if exc.errno in _UNREACHABLE:
                return PortResult(port=port, state=PortState.FILTERED)
            message = exc.strerror or str(exc) or type(exc).__name__
            return PortResult(port=port, state=PortState.ERROR, error=message)
        writer.transport.abort()
        return PortResult(port=port, state=PortState.OPEN)


def _scanner_tls() -> ssl.SSLContext:
    """TLS that accepts any certificate: the scan asks what answers, not who it is."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # an exposure probe: nothing is trusted
    return context


async def _exchange(host: str, port: int, request: bytes, timeout: float) -> bytes:
    tls = _scanner_tls() if port == TLS_PORT else None
    connect = asyncio.open_connection(host, port, ssl=tls, server_hostname="" if tls else None)
    reader, writer = await asyncio.wait_for(connect, timeout)
    try:
        writer.write(request)
        await writer.drain()
        return await asyncio.wait_for(reader.read(_READ_LIMIT), timeout)
    finally:
        writer.transport.abort()


async def _head(host: str, port: int, request: bytes, options: ScanOptions) -> HttpHead | None:
    try:
        data = await _exchange(host, port, request, options.timeout)
    except (OSError, TimeoutError):  # ssl.SSLError is an OSError
        return None
    return parse_head(data)


async def _http_checks(
    host: str, port: int, options: ScanOptions, gate: asyncio.Semaphore
) -> tuple[str, CveVerdict]:
    """The banner, then (only for an AMT-looking 401) the empty-response probe."""
    async with gate:
        head = await _head(host, port, banner_request(host), options)
        if head is None or head.status != 401 or not is_amt_server(head.server):
            return (head.server if head else ""), CveVerdict.NOT_TESTED
        authorization = empty_response_authorization(head.authenticate)
        if authorization is None:
            return head.server, CveVerdict.NOT_TESTED
        probe = banner_request(host, authorization)
        return head.server, verdict(await _head(host, port, probe, options))


class _Pong(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.answered = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        if is_presence_pong(data) and not self.answered.done():
            self.answered.set_result(True)

    def error_received(self, exc: Exception) -> None:
        if not self.answered.done():
            self.answered.set_result(False)  # ICMP port unreachable: nobody listens


async def _rmcp(host: str, options: ScanOptions, gate: asyncio.Semaphore) -> bool:
    async with gate:
        loop = asyncio.get_running_loop()
        try:
            transport, protocol = await loop.create_datagram_endpoint(
                _Pong, remote_addr=(host, RMCP_PORT)
            )
        except OSError:
            return False
        try:
            transport.sendto(RMCP_PRESENCE_PING)
            with contextlib.suppress(TimeoutError):
                return await asyncio.wait_for(protocol.answered, options.timeout)
            return False
        finally:
            transport.close()
