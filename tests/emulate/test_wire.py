"""Wire behaviour of the emulated AMT HTTP port, host agent, TLS and faults (loopback only)."""

from __future__ import annotations

import asyncio
import re
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from lxml import etree

from mewarden.emulate import ControlMode, EmulatedFleet, FaultKind, Ports, Timing
from tests.emulate.helpers import (
    AMT,
    CIM,
    ENUMERATION,
    PASSWORD,
    TRANSFER,
    RawHttp,
    authorization,
    challenge_params,
    envelope,
    get,
    md5,
    power_change,
)

BOOT_S = 0.3


@pytest.fixture
async def fleet() -> AsyncIterator[EmulatedFleet]:
    timing = Timing(
        boot_time_s=BOOT_S, shutdown_time_s=0.05, request_latency_s=0.0, slow_extra_s=0.05
    )
    async with EmulatedFleet.start(
        nodes=2, base_ip=None, password=PASSWORD, timing=timing, tls=True
    ) as f:
        yield f


def _client(**kwargs: object) -> httpx.AsyncClient:
    return httpx.AsyncClient(auth=httpx.DigestAuth("admin", PASSWORD), timeout=5.0, **kwargs)  # type: ignore[arg-type]


def _url(fleet: EmulatedFleet, index: int = 0) -> str:
    return f"http://{fleet.devices[index].address}:16992/wsman"


async def test_401_is_amt_shaped_and_closes_the_connection(fleet: EmulatedFleet) -> None:
    conn = await RawHttp.open(fleet.devices[0].address, 16992)
    await conn.send(get(AMT + "AMT_GeneralSettings"))
    status, headers, body, _ = await conn.response()
    assert status == 401
    assert headers["connection"] == "close"
    assert re.fullmatch(
        r'Digest realm="Digest:[0-9A-F]{32}", nonce="[A-Za-z0-9+/=]{32}",stale="false",qop="auth"',
        headers["www-authenticate"],
    )
    assert b"Log on failed" in body
    assert await conn.reader.read() == b""  # the server closed the socket


async def test_nonce_reuse_with_growing_nc_on_one_connection(fleet: EmulatedFleet) -> None:
    address = fleet.devices[0].address
    first = await RawHttp.open(address, 16992)
    await first.send(get(AMT + "AMT_GeneralSettings"))
    _, headers, _, _ = await first.response()
    params = challenge_params(headers["www-authenticate"])
    first.close()
    conn = await RawHttp.open(address, 16992)
    for nc in (1, 2, 3):
        await conn.send(get(AMT + "AMT_GeneralSettings"), authorization(params, nc))
        status, headers, body, sizes = await conn.response()
        assert status == 200
        assert headers["transfer-encoding"] == "chunked"
        assert headers["content-type"] == "application/soap+xml; charset=UTF-8"
        assert headers["server"].startswith("Intel(R) Active Management Technology")
        # AMT's framing: 4 upper-case hex digits, 544 bytes first, then 762-byte chunks
        assert sizes[0] == "0220"
        assert sizes[1] == "02FA" or int(sizes[1], 16) < 762
        assert sizes[-1] == "0"
        etree.fromstring(body)
    await conn.send(get(AMT + "AMT_GeneralSettings"), authorization(params, 3))  # replay
    status, _, _, _ = await conn.response()
    assert status == 401
    conn.close()


async def test_wrong_password_is_rejected(fleet: EmulatedFleet) -> None:
    async with httpx.AsyncClient(auth=httpx.DigestAuth("admin", "nope"), timeout=5) as client:
        response = await client.post(_url(fleet), content=get(AMT + "AMT_GeneralSettings"))
    assert response.status_code == 401


async def test_simultaneous_requests_get_the_concurrency_fault() -> None:
    timing = Timing(boot_time_s=BOOT_S, request_latency_s=0.3)
    async with (
        EmulatedFleet.start(nodes=1, base_ip=None, password=PASSWORD, timing=timing) as f,
        _client() as one,
        _client() as two,
    ):
        await one.post(_url(f), content=get(AMT + "AMT_GeneralSettings"))
        await two.post(_url(f), content=get(AMT + "AMT_GeneralSettings"))
        results = await asyncio.gather(
            one.post(_url(f), content=get(AMT + "AMT_GeneralSettings")),
            two.post(_url(f), content=get(AMT + "AMT_GeneralSettings")),
        )
    statuses = sorted(r.status_code for r in results)
    assert statuses == [200, 400]
    fault = next(r for r in results if r.status_code == 400)
    assert "concurrency or locking" in fault.text


@pytest.mark.parametrize(
    ("request_body", "status", "subcode"),
    [
        (get(AMT + "AMT_NoSuchClass"), 400, "DestinationUnreachable"),
        (
            envelope(
                CIM + "CIM_SoftwareIdentity",
                f"{TRANSFER}/Get",
                selectors=(
                    '<w:SelectorSet><w:Selector Name="InstanceID">Nope</w:Selector></w:SelectorSet>'
                ),
            ),
            400,
            "InvalidSelectors",
        ),
        (
            envelope(
                AMT + "AMT_BootSettingData",
                f"{TRANSFER}/Put",
                f'<h:AMT_BootSettingData xmlns:h="{AMT}AMT_BootSettingData">'
                "<h:UseSOL>true</h:UseSOL><h:OptionsCleared>true</h:OptionsCleared>"
                "</h:AMT_BootSettingData>",
            ),
            400,
            "InvalidRepresentation",
        ),
        (
            envelope(
                AMT + "AMT_BootSettingData",
                f"{TRANSFER}/Put",
                f'<h:AMT_BootSettingData xmlns:h="{AMT}AMT_BootSettingData">'
                "<h:UseSOL>maybe</h:UseSOL></h:AMT_BootSettingData>",
            ),
            400,
            "InvalidRepresentation",
        ),
        (
            envelope(
                CIM + "CIM_BootConfigSetting",
                CIM + "CIM_BootConfigSetting/ChangeBootOrder",
                f'<h:ChangeBootOrder_INPUT xmlns:h="{CIM}CIM_BootConfigSetting"><h:Source/>'
                "</h:ChangeBootOrder_INPUT>",
            ),
            400,
            "SchemaValidationError",
        ),
        (
            envelope(
                CIM + "CIM_SoftwareIdentity",
                f"{ENUMERATION}/Pull",
                f'<Pull xmlns="{ENUMERATION}"><EnumerationContext>BAD</EnumerationContext></Pull>',
            ),
            500,
            "InvalidEnumerationContext",
        ),
    ],
)
async def test_soap_faults(
    fleet: EmulatedFleet, request_body: bytes, status: int, subcode: str
) -> None:
    async with _client() as client:
        response = await client.post(_url(fleet), content=request_body)
    assert response.status_code == status
    root = etree.fromstring(response.content)
    value = root.findtext(".//{*}Fault/{*}Code/{*}Subcode/{*}Value") or ""
    assert value.endswith(":" + subcode)


async def test_put_changes_writable_fields(fleet: EmulatedFleet) -> None:
    body = (
        f'<h:AMT_BootSettingData xmlns:h="{AMT}AMT_BootSettingData"><h:UseSOL>true</h:UseSOL>'
        "<h:BIOSPause>false</h:BIOSPause></h:AMT_BootSettingData>"
    )
    async with _client() as client:
        response = await client.post(
            _url(fleet), content=envelope(AMT + "AMT_BootSettingData", f"{TRANSFER}/Put", body)
        )
    assert response.status_code == 200
    assert etree.fromstring(response.content).findtext(".//{*}UseSOL") == "true"
    assert fleet.devices[0].state.boot.use_sol


async def _healthz(fleet: EmulatedFleet, index: int = 0, timeout: float = 2.0) -> httpx.Response:
    async with httpx.AsyncClient(timeout=timeout) as client:
        return await client.get(f"http://{fleet.devices[index].address}:9100/healthz")


async def test_pxe_boot_ends_re_enrolled_and_agent_follows_the_host(fleet: EmulatedFleet) -> None:
    dev = fleet.devices[1]
    assert (await _healthz(fleet, 1)).json()["reenroll_count"] == 0
    pxe = (
        f'<h:ChangeBootOrder_INPUT xmlns:h="{CIM}CIM_BootConfigSetting"><h:Source>'
        '<Address xmlns="http://schemas.xmlsoap.org/ws/2004/08/addressing">x</Address>'
        '<ReferenceParameters xmlns="http://schemas.xmlsoap.org/ws/2004/08/addressing">'
        '<SelectorSet xmlns="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd">'
        '<Selector Name="InstanceID">Intel(r) AMT: Force PXE Boot</Selector></SelectorSet>'
        "</ReferenceParameters></h:Source></h:ChangeBootOrder_INPUT>"
    )
    role = (
        f'<h:SetBootConfigRole_INPUT xmlns:h="{CIM}CIM_BootService"><h:Role>1</h:Role>'
        "</h:SetBootConfigRole_INPUT>"
    )
    url = _url(fleet, 1)
    async with _client() as client:
        for uri, method, body in (
            (CIM + "CIM_BootConfigSetting", "ChangeBootOrder", pxe),
            (CIM + "CIM_BootService", "SetBootConfigRole", role),
        ):
            response = await client.post(url, content=envelope(uri, f"{uri}/{method}", body))
            assert etree.fromstring(response.content).findtext(".//{*}ReturnValue") == "0"
        response = await client.post(url, content=power_change(10))
        assert etree.fromstring(response.content).findtext(".//{*}ReturnValue") == "0"
    with pytest.raises(httpx.TransportError):
        await _healthz(fleet, 1)  # rebooting: the host OS does not answer
    for _ in range(50):
        await asyncio.sleep(0.05)
        if dev.host_up:
            break
    health = (await _healthz(fleet, 1)).json()
    assert health["reenroll_count"] == 1
    assert health["boot_target"] == "pxe"
    kinds = [(r.address, r.kind) for r in fleet.action_log]
    assert (dev.address, "re-enrolled") in kinds
    assert (dev.address, "power-request") in kinds


async def test_hang_host_fault_keeps_power_but_agent_times_out(fleet: EmulatedFleet) -> None:
    dev = fleet.devices[0]
    fleet.inject_fault(dev.address, "hang-host")
    assert int(dev.power_state) == 2
    with pytest.raises(httpx.TimeoutException):
        await _healthz(fleet, timeout=0.3)
    fleet.clear_faults(dev.address)
    assert (await _healthz(fleet)).status_code == 200


async def test_refuse_and_unreachable_faults(fleet: EmulatedFleet) -> None:
    dev = fleet.devices[0]
    fleet.inject_fault(dev.address, FaultKind.REFUSE)
    async with _client() as client:
        with pytest.raises(httpx.TransportError):
            await client.post(_url(fleet), content=get(AMT + "AMT_GeneralSettings"))
    fleet.clear_faults(dev.address)
    fleet.inject_fault(dev.address, FaultKind.AMT_UNREACHABLE)
    async with httpx.AsyncClient(auth=httpx.DigestAuth("admin", PASSWORD), timeout=0.3) as client:
        with pytest.raises(httpx.TimeoutException):
            await client.post(_url(fleet), content=get(AMT + "AMT_GeneralSettings"))


async def test_flapping_alternates(fleet: EmulatedFleet) -> None:
    fleet.inject_fault(fleet.devices[0].address, "flapping")
    outcomes = []
    for _ in range(4):
        async with httpx.AsyncClient(timeout=2) as client:
            try:
                await client.get(f"http://{fleet.devices[0].address}:16992/")
                outcomes.append(True)
            except httpx.TransportError:
                outcomes.append(False)
    assert outcomes.count(True) == 2
    assert outcomes.count(False) == 2


async def test_http_500_malformed_and_slow_faults(fleet: EmulatedFleet) -> None:
    dev = fleet.devices[0]
    async with _client() as client:
        fleet.inject_fault(dev.address, "http-500")
        response = await client.post(_url(fleet), content=get(AMT + "AMT_GeneralSettings"))
        assert response.status_code == 500
        fleet.clear_faults(dev.address)
        fleet.inject_fault(dev.address, "malformed-xml")
        response = await client.post(_url(fleet), content=get(AMT + "AMT_GeneralSettings"))
        assert response.status_code == 200
        with pytest.raises(etree.XMLSyntaxError):
            etree.fromstring(response.content)
        fleet.clear_faults(dev.address)
        fleet.inject_fault(dev.address, "slow")
        response = await client.post(_url(fleet), content=get(AMT + "AMT_GeneralSettings"))
        assert etree.fromstring(response.content).findtext(".//{*}DigestRealm") == dev.realm


async def test_ignore_power_fault(fleet: EmulatedFleet) -> None:
    dev = fleet.devices[0]
    fleet.inject_fault(dev.address, "ignore-power")
    async with _client() as client:
        response = await client.post(_url(fleet), content=power_change(8))
    assert etree.fromstring(response.content).findtext(".//{*}ReturnValue") == "0"
    assert int(dev.power_state) == 2


async def _cve_probe(fleet: EmulatedFleet) -> int:
    address = fleet.devices[0].address
    async with httpx.AsyncClient(timeout=2) as client:
        first = await client.get(f"http://{address}:16992/index.htm")
        params = challenge_params(first.headers["www-authenticate"])
        header = (
            f'Digest username="admin", realm="{params["realm"]}", nonce="{params["nonce"]}", '
            'uri="index.htm", cnonce="1234", nc=1, qop="auth", response=""'
        )
        second = await client.get(
            f"http://{address}:16992/index.htm", headers={"Authorization": header}
        )
    return second.status_code


async def test_cve_2017_5689_only_when_injected(fleet: EmulatedFleet) -> None:
    assert await _cve_probe(fleet) == 401
    fleet.inject_fault(fleet.devices[0].address, "cve-2017-5689")
    assert await _cve_probe(fleet) == 200


async def test_tls_per_device_certificates_and_tls_failure(fleet: EmulatedFleet) -> None:
    fingerprints = []
    no_verify = ssl.create_default_context()
    no_verify.check_hostname = False
    no_verify.verify_mode = ssl.CERT_NONE
    for index in (0, 1):
        _, writer = await asyncio.open_connection(
            fleet.devices[index].address, 16993, ssl=no_verify
        )
        fingerprints.append(writer.get_extra_info("ssl_object").getpeercert(binary_form=True))
        writer.close()
    assert fingerprints[0] != fingerprints[1]
    async with _client(verify=False) as client:
        response = await client.post(
            f"https://{fleet.devices[0].address}:16993/wsman",
            content=get(AMT + "AMT_GeneralSettings"),
        )
        assert response.status_code == 200
    fleet.inject_fault(fleet.devices[0].address, "tls-failure")
    async with _client(verify=False) as client:
        with pytest.raises(httpx.ConnectError):
            await client.post(
                f"https://{fleet.devices[0].address}:16993/wsman",
                content=get(AMT + "AMT_GeneralSettings"),
            )


async def test_web_ui_root_redirects_to_logon(fleet: EmulatedFleet) -> None:
    async with httpx.AsyncClient(timeout=2) as client:
        response = await client.get(f"http://{fleet.devices[0].address}:16992/")
    assert response.status_code == 303
    assert response.headers["location"] == "/logon.htm"


async def test_shared_listeners_route_by_local_address() -> None:
    ports = Ports(http=27992, tls=27993, redirection=27994, agent=27100, vnc=27900)
    async with EmulatedFleet.start(
        nodes=3, base_ip=None, password=PASSWORD, ports=ports, listen="shared", boot_time_s=0.1
    ) as f:
        assert f.listen_mode == "shared"
        async with _client() as client:
            for dev in f.devices:
                response = await client.post(
                    f"http://{dev.address}:27992/wsman", content=get(AMT + "AMT_GeneralSettings")
                )
                assert etree.fromstring(response.content).findtext(".//{*}DigestRealm") == dev.realm


async def test_activation_replaces_the_password_and_unprovision_restores_it() -> None:
    async with EmulatedFleet.start(
        nodes=1, base_ip=None, password=PASSWORD, mode=ControlMode.PRE_PROVISIONING
    ) as f:
        dev = f.devices[0]
        new_password = "N3w-Admin!pw"
        ha1 = md5(f"admin:{dev.realm}:{new_password}")
        uri = "http://intel.com/wbem/wscim/1/ips-schema/1/IPS_HostBasedSetupService"
        body = (
            f'<h:Setup_INPUT xmlns:h="{uri}"><h:NetAdminPassEncryptionType>2'
            f"</h:NetAdminPassEncryptionType><h:NetworkAdminPassword>{ha1}"
            "</h:NetworkAdminPassword></h:Setup_INPUT>"
        )
        async with _client() as client:
            response = await client.post(_url(f), content=envelope(uri, f"{uri}/Setup", body))
            assert etree.fromstring(response.content).findtext(".//{*}ReturnValue") == "0"
        assert dev.state.control_mode is ControlMode.CLIENT
        async with _client() as old:
            assert (
                await old.post(_url(f), content=get(AMT + "AMT_GeneralSettings"))
            ).status_code == 401
        setup = AMT + "AMT_SetupAndConfigurationService"
        unprovision = (
            f'<h:Unprovision_INPUT xmlns:h="{setup}"><h:ProvisioningMode>1</h:ProvisioningMode>'
            "</h:Unprovision_INPUT>"
        )
        auth = httpx.DigestAuth("admin", new_password)
        async with httpx.AsyncClient(auth=auth, timeout=5) as new:
            again = await new.post(_url(f), content=envelope(uri, f"{uri}/Setup", body))
            assert etree.fromstring(again.content).findtext(".//{*}ReturnValue") == "2"
            response = await new.post(
                _url(f), content=envelope(setup, f"{setup}/Unprovision", unprovision)
            )
            assert etree.fromstring(response.content).findtext(".//{*}ReturnValue") == "0"
        async with _client() as old:
            assert (
                await old.post(_url(f), content=get(AMT + "AMT_GeneralSettings"))
            ).status_code == 200


class _FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_injected_clock_drives_boots() -> None:
    clock = _FakeClock()
    async with EmulatedFleet.start(
        nodes=1, base_ip=None, password=PASSWORD, boot_time_s=30.0, clock=clock
    ) as f:
        dev = f.devices[0]
        async with _client() as client:
            response = await client.post(_url(f), content=power_change(10))
        assert etree.fromstring(response.content).findtext(".//{*}ReturnValue") == "0"
        assert not dev.host_up
        clock.now += 29.0
        assert not dev.host_up
        clock.now += 1.0
        assert dev.host_up
        boot = [r for r in f.action_log if r.kind == "boot-complete"]
        assert [r.at for r in boot] == [1030.0]


async def _peer_certificate(address: str) -> bytes:
    no_verify = ssl.create_default_context()
    no_verify.check_hostname = False
    no_verify.verify_mode = ssl.CERT_NONE
    _, writer = await asyncio.open_connection(address, 16993, ssl=no_verify)
    der: bytes = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
    writer.close()
    return der


async def test_certificates_are_cached_in_the_state_dir(tmp_path: Path) -> None:
    seen = []
    async with EmulatedFleet.start(nodes=1, base_ip=None, password=PASSWORD) as probe:
        address = probe.devices[0].address  # a block that was free a moment ago
    for _ in range(2):
        async with EmulatedFleet.start(
            nodes=1, base_ip=address, password=PASSWORD, tls=True, state_dir=tmp_path
        ):
            seen.append(await _peer_certificate(address))
    key = tmp_path / "tls" / "fleet-key.pem"
    assert key.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "tls" / f"{address}.crt").is_file()
    assert seen[0] == seen[1]  # the second run served the cached certificate
