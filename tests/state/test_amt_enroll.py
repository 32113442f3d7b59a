"""The real enrollment client (mewarden.amt) against the AMT emulator on loopback."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from mewarden.amt.client import AmtClient, Endpoint
from mewarden.crypto.keys import KeySource, load_key
from mewarden.crypto.vault import unseal
from mewarden.emulate import EmulatedFleet
from mewarden.errors import AmtAuthError, AmtUnsupportedError
from mewarden.secret import Secret
from mewarden.state.amt_enroll import AmtEnrollClient
from mewarden.state.db import open_engine, sqlite_path
from mewarden.state.enroll import AmtProfile
from mewarden.state.store import Store
from tests.state.clihelp import host_probe
from tests.state.conftest import PgCluster

PASSWORD = "P@ssw0rd1"


def test_identity_and_profile_over_amt() -> None:
    async def scenario() -> None:
        async with EmulatedFleet.start(nodes=1, base_ip=None, password=PASSWORD) as fleet:
            device = fleet.devices[0]
            endpoint = Endpoint(host=device.address, password=Secret(PASSWORD))
            async with AmtClient(endpoint) as client:
                adapter = AmtEnrollClient(client)
                seen = await adapter.read_identity()
                assert seen.digest_realm == device.realm
                assert seen.realm_valid
                assert (
                    seen.macs == (device.mac.lower(),)
                    or device.mac.lower().replace(":", "-") in seen.macs
                )
                await adapter.apply_profile(AmtProfile(sol=True, ider=True))
                assert await adapter.tls_fingerprint() is None  # plain HTTP: nothing to pin
            wrong = Endpoint(host=device.address, password=Secret("Wr0ng!pass"), retries=0)
            async with AmtClient(wrong) as client:
                with pytest.raises(AmtAuthError):
                    await AmtEnrollClient(client).read_identity()

    asyncio.run(scenario())


class _FleetThread:
    """An emulated fleet served from a background thread for CLI subprocesses."""

    def __init__(self, nodes: int) -> None:
        self.nodes = nodes
        self.addresses: list[str] = []
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with EmulatedFleet.start(nodes=self.nodes, base_ip=None, password=PASSWORD) as fleet:
            self.addresses = [d.address for d in fleet.devices]
            self._ready.set()
            await self._stop.wait()

    def __enter__(self) -> _FleetThread:
        self._thread.start()
        assert self._ready.wait(60)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None
        assert self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)


@pytest.fixture
def emulated() -> Iterator[_FleetThread]:
    with _FleetThread(3) as fleet:
        yield fleet


def _cli(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("MEWARDEN_")}
    base.update({"XDG_STATE_HOME": str(home), **env})
    return subprocess.run(
        [sys.executable, "-m", "mewarden", *args],
        capture_output=True,
        text=True,
        env=base,
        timeout=300,
        check=False,
    )


def test_wrong_amt_credentials_via_cli(tmp_path: Path, emulated: _FleetThread) -> None:
    assert _cli(tmp_path, "org", "init").returncode == 0
    done = _cli(
        tmp_path,
        "node",
        "enroll",
        "n1",
        "--policy",
        "use",
        "--amt-host",
        emulated.addresses[0],
        MEWARDEN_AMT_PASSWORD="Wr0ng!pass",
    )
    assert done.returncode == AmtAuthError.exit_code, done.stderr
    assert done.stderr.count("\n") == 1
    assert "Traceback" not in done.stderr
    listed = _cli(tmp_path, "node", "list", "--json")
    assert json.loads(listed.stdout) == []


def test_enroll_profile_options_via_cli(tmp_path: Path, emulated: _FleetThread) -> None:
    assert _cli(tmp_path, "org", "init").returncode == 0
    base = ["node", "enroll", "n1", "--policy", "use", "--amt-host", emulated.addresses[0]]
    bad = _cli(tmp_path, *base, "--network", "dhcp", "--ip", "10.0.0.9")
    assert bad.returncode == 2, bad.stderr  # rejected before anything is sent or stored
    assert "takes no addresses" in bad.stderr
    refused = _cli(tmp_path, *base, "--consent", "none", MEWARDEN_AMT_PASSWORD=PASSWORD)
    assert refused.returncode == AmtUnsupportedError.exit_code, refused.stderr
    assert "client control mode" in refused.stderr
    assert refused.stderr.count("\n") == 1
    assert json.loads(_cli(tmp_path, "node", "list", "--json").stdout) == []
    done = _cli(tmp_path, *base, "--consent", "all", "--json", MEWARDEN_AMT_PASSWORD=PASSWORD)
    assert done.returncode == 0, done.stderr
    identity = json.loads(done.stdout)["identity"]
    assert identity["uuid"] is not None


def test_use_enroll_attaches_the_host_probe(tmp_path: Path, emulated: _FleetThread) -> None:
    """Issue 9: the host probe JSON becomes node metadata at (use) enrollment."""
    assert _cli(tmp_path, "org", "init").returncode == 0
    probe = tmp_path / "probe.json"
    probe.write_text(host_probe("csme16-z790-running"))
    base = ["node", "enroll", "n1", "--policy", "use", "--amt-host", emulated.addresses[1]]
    done = _cli(tmp_path, *base, "--probe", str(probe), "--json", MEWARDEN_AMT_PASSWORD=PASSWORD)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["documents"] == ["amt-identity", "host-probe"]
    shown = json.loads(_cli(tmp_path, "node", "show", "n1", "--json").stdout)
    assert shown["node"]["policy"] == "use"
    assert [d["kind"] for d in shown["documents"]] == ["amt-identity", "host-probe"]
    assert shown["documents"][1]["source"] == str(probe)


@pytest.mark.slow
def test_import_use_nodes_end_to_end(
    tmp_path: Path, db_url: str, pg_cluster: PgCluster | None
) -> None:
    """`node import` of emulated devices, fleet status all compliant, no plaintext, rotate-key.

    On SQLite and PostgreSQL. The database bytes (SQLite files, or a ``pg_dump``, where bytea
    columns come out as hex) are searched for every password as text and as hex.
    """
    count = int(os.environ.get("MEWARDEN_ENROLL_E2E_NODES", "1000"))
    env = {"MEWARDEN_DB": db_url}
    with _FleetThread(count) as fleet:
        assert _cli(tmp_path, "org", "init", **env).returncode == 0
        rows = ["name,amt_host,policy"] + [
            f"node{i:04d},{a},use" for i, a in enumerate(fleet.addresses)
        ]
        (tmp_path / "nodes.csv").write_text("\n".join(rows) + "\n")
        done = _cli(
            tmp_path,
            "node",
            "import",
            str(tmp_path / "nodes.csv"),
            "--json",
            MEWARDEN_AMT_PASSWORD=PASSWORD,
            **env,
        )
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["enrolled"] == count
        status = json.loads(_cli(tmp_path, "fleet", "status", "--json", **env).stdout)
        assert status["summary"]["compliant"] == count
        generated = _vaulted_passwords(tmp_path, db_url, count)
        asyncio.run(_check_device_passwords(fleet.addresses[:3], generated[:3]))
    raw = _database_bytes(db_url, pg_cluster).lower()
    assert f"node{count - 1:04d}".encode() in raw  # the bytes really hold the data
    assert len(set(generated)) == count
    plain = [PASSWORD, *generated]
    assert [
        p for p in plain if p.lower().encode() in raw or p.encode().hex() in raw.decode("latin-1")
    ] == []
    rotated = _cli(tmp_path, "org", "rotate-key", "--json", **env)
    assert rotated.returncode == 0, rotated.stderr
    assert json.loads(rotated.stdout)["credentials"] == count
    assert _vaulted_passwords(tmp_path, db_url, count) == generated  # all unseal with the new key


def _database_bytes(db_url: str, pg_cluster: PgCluster | None) -> bytes:
    path = sqlite_path(db_url)
    if path is not None:
        return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    assert pg_cluster is not None
    return pg_cluster.dump(db_url)


def _vaulted_passwords(home: Path, db_url: str, count: int) -> list[str]:
    key = load_key(KeySource(file=home / "mewarden" / "org.key"))
    store = Store(open_engine(db_url))
    found = []
    for i in range(count):
        _, sealed = store.credential(f"node{i:04d}", "amt-admin")
        found.append(unseal(key, sealed, node=f"node{i:04d}", purpose="amt-admin").reveal())
    store.engine.dispose()
    return found


async def _check_device_passwords(addresses: list[str], passwords: list[str]) -> None:
    """The devices now take the vaulted password and refuse the old one."""
    for address, password in zip(addresses, passwords, strict=True):
        async with AmtClient(Endpoint(host=address, password=Secret(password))) as client:
            await AmtEnrollClient(client).read_identity()
        old = Endpoint(host=address, password=Secret(PASSWORD), retries=0)
        async with AmtClient(old) as client:
            with pytest.raises(AmtAuthError):
                await AmtEnrollClient(client).read_identity()


def test_uuid_consent_and_network_over_amt() -> None:
    from mewarden.amt.consent import read_consent
    from mewarden.amt.network import AddressMode, EthernetChange, read_ethernet
    from mewarden.emulate.values import ControlMode
    from mewarden.errors import AmtUnsupportedError
    from mewarden.wsman.resources import OptInRequired

    async def scenario() -> None:
        async with EmulatedFleet.start(nodes=2, base_ip=None, password=PASSWORD) as fleet:
            admin_mode, client_mode = fleet.devices
            admin_mode.state.control_mode = ControlMode.ADMIN
            endpoint = Endpoint(host=admin_mode.address, password=Secret(PASSWORD))
            async with AmtClient(endpoint) as client:
                adapter = AmtEnrollClient(client)
                assert (await adapter.read_identity()).uuid == admin_mode.uuid
                await adapter.apply_profile(AmtProfile(user_consent=OptInRequired.KVM))
                assert (await read_consent(client)).required == OptInRequired.KVM
                static = EthernetChange(
                    mode=AddressMode.STATIC,
                    ip_address=admin_mode.address,
                    subnet_mask="255.0.0.0",
                    default_gateway="127.0.0.1",
                )
                await adapter.apply_network(static)
                wired = await read_ethernet(client)
                assert not wired.dhcp_enabled
                assert wired.ip_address == admin_mode.address
            endpoint = Endpoint(host=client_mode.address, password=Secret(PASSWORD))
            async with AmtClient(endpoint) as client:
                adapter = AmtEnrollClient(client)
                assert (await adapter.read_identity()).uuid == client_mode.uuid
                await adapter.apply_profile(AmtProfile(user_consent=OptInRequired.ALL))  # as is
                with pytest.raises(AmtUnsupportedError, match="client control mode"):
                    await adapter.apply_profile(AmtProfile(user_consent=OptInRequired.NONE))
                assert (await read_consent(client)).required == OptInRequired.ALL

    asyncio.run(scenario())
