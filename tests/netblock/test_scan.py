"""The scanner against the AMT emulator on loopback, and its pure parts."""

from __future__ import annotations

import asyncio
import errno
import ipaddress
from typing import Any

import pytest

from mewarden.emulate.device import FaultKind, Ports
from mewarden.emulate.fleet import EmulatedFleet
from mewarden.errors import BadInputError
from mewarden.netblock.inventory import NetblockInventory, NetblockNode, NodePolicy, build_inventory
from mewarden.netblock.probe import (
    RMCP_PRESENCE_PING,
    CveVerdict,
    HttpHead,
    Vantage,
    empty_response_authorization,
    findings,
    is_presence_pong,
    parse_head,
    verdict,
)
from mewarden.netblock.scan import ScanOptions, expand_targets, fleet_targets, scan


def test_presence_ping_is_the_nmap_payload() -> None:
    # reference live-me-and-network.md B3: "06 00 ff 06 | 00 00 11 be | 80 00 00 00"
    assert bytes.fromhex("06 00 ff 06 00 00 11 be 80 00 00 00") == RMCP_PRESENCE_PING
    assert not is_presence_pong(RMCP_PRESENCE_PING)  # a ping (0x80) is not a pong (0x40)
    pong = bytearray(RMCP_PRESENCE_PING)
    pong[8] = 0x40
    assert is_presence_pong(bytes(pong) + bytes(16))
    assert not is_presence_pong(bytes(pong)[:11])


def test_parse_head_reads_amt_401_and_rejects_non_http() -> None:
    raw = (
        b"HTTP/1.1 401 Unauthorized\r\nServer: Intel(R) Active Management Technology 9.1.34\r\n"
        b'WWW-Authenticate: Digest realm="Digest:0123456789ABCDEF0123456789ABCDEF", '
        b'nonce="abc",stale="false",qop="auth"\r\nContent-Length: 0\r\n\r\n'
    )
    head = parse_head(raw)
    assert head is not None
    assert head.status == 401
    assert head.server == "Intel(R) Active Management Technology 9.1.34"
    auth = empty_response_authorization(head.authenticate)
    assert auth is not None
    assert 'response=""' in auth
    assert 'username="admin"' in auth
    assert 'realm="Digest:0123456789ABCDEF0123456789ABCDEF"' in auth
    assert parse_head(b"SSH-2.0-OpenSSH_9.2\r\n") is None
    assert empty_response_authorization('Basic realm="x"') is None


def test_verdict_and_findings() -> None:
    assert verdict(HttpHead(status=200)) is CveVerdict.VULNERABLE
    assert verdict(HttpHead(status=401)) is CveVerdict.NOT_VULNERABLE
    assert verdict(None) is CveVerdict.NOT_TESTED
    assert findings(NodePolicy.USE, (16992,), True, CveVerdict.NOT_VULNERABLE) == ()
    assert findings(NodePolicy.IGNORE, (16992,), True, CveVerdict.NOT_VULNERABLE) == ()
    assert len(findings(NodePolicy.NEUTRALIZE, (16992, 16994), True, CveVerdict.NOT_TESTED)) == 3
    assert findings(NodePolicy.USE, (16992,), True, CveVerdict.NOT_TESTED, Vantage.OUTSIDE) == (
        "AMT port 16992/tcp open on a use node, to a non-controller",
        "RMCP presence ping answered on a use node, to a non-controller",
    )
    assert findings(NodePolicy.IGNORE, (16992,), True, CveVerdict.NOT_TESTED, Vantage.OUTSIDE) == ()
    assert findings(NodePolicy.IGNORE, (), False, CveVerdict.VULNERABLE) == (
        "AMT accepts an empty Digest response (CVE-2017-5689)",
    )


def test_expand_targets_bounds_and_errors() -> None:
    got = expand_targets(["10.0.0.0/30", "10.0.0.1", "::1"])
    assert [str(a) for a in got] == ["10.0.0.1", "10.0.0.2", "::1"]
    with pytest.raises(BadInputError, match="not an address or CIDR"):
        expand_targets(["host.example"])
    with pytest.raises(BadInputError, match="more than 65536 addresses"):
        expand_targets(["10.0.0.0/8"])


def test_fleet_targets_skip_networks_too_large_to_scan() -> None:
    inventory = build_inventory(
        [
            NetblockNode(
                name="a", policy=NodePolicy.USE, addresses=(ipaddress.ip_network("10.0.0.1"),)
            ),
            NetblockNode(
                name="lab",
                policy=NodePolicy.NEUTRALIZE,
                addresses=(
                    ipaddress.ip_network("10.1.0.0/30"),
                    ipaddress.ip_network("2001:db8::/64"),
                ),
            ),
        ]
    )
    assert [str(a) for a in fleet_targets(inventory)] == ["10.0.0.1", "10.1.0.1", "10.1.0.2"]


async def test_cve_check_finds_the_vulnerable_emulated_device_and_not_the_patched_one() -> None:
    async with EmulatedFleet.start(nodes=2, base_ip=None, boot_time_s=0.0) as fleet:
        vulnerable, patched = fleet.devices
        vulnerable.inject(FaultKind.CVE_2017_5689)
        inventory = build_inventory(
            [
                NetblockNode(
                    name=f"d{i}",
                    policy=NodePolicy.NEUTRALIZE if i else NodePolicy.USE,
                    addresses=(ipaddress.ip_network(d.address),),
                )
                for i, d in enumerate(fleet.devices)
            ]
        )
        targets = [ipaddress.ip_address(d.address) for d in fleet.devices]
        reports = await scan(targets, inventory, ScanOptions(timeout=2.0, concurrency=4))
    by_address = {r.address: r for r in reports}
    bad, good = by_address[vulnerable.address], by_address[patched.address]
    assert bad.cve_2017_5689 is CveVerdict.VULNERABLE
    assert "AMT accepts an empty Digest response (CVE-2017-5689)" in bad.findings
    assert good.cve_2017_5689 is CveVerdict.NOT_VULNERABLE
    assert good.server.startswith("Intel(R) Active Management Technology")
    # d1 is a neutralize node whose AMT answers: that exposure is a finding too.
    assert "AMT port 16992/tcp open on a neutralize node" in good.findings
    assert bad.node == "d0"
    assert bad.policy is NodePolicy.USE


async def test_closed_ports_and_no_rmcp_on_an_empty_loopback_address() -> None:
    reports = await scan(
        [ipaddress.ip_address("127.45.67.89")],
        NetblockInventory(nodes=()),
        ScanOptions(timeout=0.5, concurrency=2),
    )
    (report,) = reports
    assert {p.state.value for p in report.ports} == {"closed"}
    assert report.rmcp is False
    assert report.cve_2017_5689 is CveVerdict.NOT_TESTED
    assert report.findings == ()


async def test_cve_check_runs_on_tls_16993_when_16992_is_closed() -> None:
    # The devices serve plain HTTP elsewhere, so only the TLS port can reveal the flaw.
    ports = Ports(http=18992)
    async with EmulatedFleet.start(nodes=2, base_ip=None, tls=True, ports=ports) as fleet:
        vulnerable = fleet.devices[0]
        vulnerable.inject(FaultKind.CVE_2017_5689)
        targets = [ipaddress.ip_address(d.address) for d in fleet.devices]
        reports = await scan(targets, NetblockInventory(nodes=()), ScanOptions(timeout=2.0))
    bad, good = reports if reports[0].address == vulnerable.address else reports[::-1]
    for report in (bad, good):
        assert report.open_amt_ports[:2] == (16993, 16994)
    assert bad.cve_2017_5689 is CveVerdict.VULNERABLE
    assert "AMT accepts an empty Digest response (CVE-2017-5689)" in bad.findings
    assert good.cve_2017_5689 is CveVerdict.NOT_VULNERABLE
    assert good.server.startswith("Intel(R) Active Management Technology")


async def test_an_unexpected_socket_error_is_that_ports_result(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = asyncio.open_connection

    async def flaky(host: str, port: int, **kwargs: Any) -> Any:
        if port == 16994:
            raise OSError(errno.EADDRNOTAVAIL, "Cannot assign requested address")
        return await real(host, port, **kwargs)

    monkeypatch.setattr(asyncio, "open_connection", flaky)
    (report,) = await scan(
        [ipaddress.ip_address("127.45.67.90")],
        NetblockInventory(nodes=()),
        ScanOptions(timeout=0.5),
    )
    states = {p.port: (p.state.value, p.error) for p in report.ports}
    assert states[16994] == ("error", "Cannot assign requested address")
    assert {s for port, (s, _) in states.items() if port != 16994} == {"closed"}


async def test_a_cidr_scan_never_exceeds_the_concurrency_bound() -> None:
    # A listener on six loopback addresses counts banner requests in flight; the scanner holds
    # its semaphore for the whole exchange, so the peak can never pass the bound.
    in_flight, peak = 0, 0

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal in_flight, peak
        try:
            await reader.readuntil(b"\r\n\r\n")
            in_flight += 1
            peak = max(peak, in_flight)
            await asyncio.sleep(0.2)
            in_flight -= 1
            writer.write(b"HTTP/1.1 200 OK\r\nServer: counter\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    targets = expand_targets(["127.63.0.0/29"])
    assert [str(a) for a in targets] == [f"127.63.0.{i}" for i in range(1, 7)]
    servers = [await asyncio.start_server(serve, str(a), 16992) for a in targets]
    try:
        options = ScanOptions(timeout=2.0, concurrency=3, agent_port=None)
        reports = await scan(targets, NetblockInventory(nodes=()), options)
    finally:
        for server in servers:
            server.close()
            await server.wait_closed()
    assert [r.server for r in reports] == ["counter"] * 6
    assert all(r.open_amt_ports == (16992,) for r in reports)
    assert 2 <= peak <= 3
