"""Independent clients drive the emulator: MeshCentral's AMT modules and Debian's amtterm.

MeshCentral (npm ``meshcentral``, pinned to 1.1.55, Apache-2.0) is installed on first use, without
its install scripts, into a cache outside the repository (npm is needed only then); its ``amt/``
modules need only Node built-ins. amtterm 1.4 speaks SOL with plain authentication. Neither
shares a line of code with mewarden.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from mewarden.emulate import EmulatedFleet
from mewarden.emulate.values import ControlMode
from tests.emulate.helpers import PASSWORD, md5
from tests.support import missing, require_tool

NPM_CACHE = Path.home() / ".cache" / "mewarden" / "npm"
MESHCENTRAL = NPM_CACHE / "node_modules" / "meshcentral"
MESHCENTRAL_VERSION = "1.1.55"  # the release reference amt.md §3.1 read; known to work
SCRIPT = Path(__file__).with_name("meshcentral_client.js")
ADMIN = ControlMode.ADMIN  # no user consent for SOL by default (client control needs it)


def _cached_version() -> str | None:
    """The MeshCentral version in the cache, if its AMT modules are there."""
    try:
        manifest = json.loads((MESHCENTRAL / "package.json").read_text())
    except (OSError, ValueError):
        return None
    if not (MESHCENTRAL / "amt" / "amt-wsman-comm.js").is_file():
        return None
    return str(manifest.get("version", "")) or None


def _meshcentral() -> Path:
    """The pinned MeshCentral's ``amt/`` directory; npm is needed only to fill the cache."""
    if _cached_version() != MESHCENTRAL_VERSION:
        npm = require_tool("npm")
        NPM_CACHE.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run(
            [npm, "install", "--ignore-scripts", "--no-audit", "--no-fund", "--save-exact",
             "--prefix", str(NPM_CACHE), f"meshcentral@{MESHCENTRAL_VERSION}"],
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )  # fmt: skip
        if proc.returncode != 0 or _cached_version() != MESHCENTRAL_VERSION:
            missing(
                f"npm install meshcentral@{MESHCENTRAL_VERSION} failed: "
                f"{proc.stderr.strip()[-300:]}"
            )
    return MESHCENTRAL / "amt"


async def test_meshcentral_gets_enumerates_and_changes_power() -> None:
    amt_dir = _meshcentral()
    node = require_tool("node")
    async with EmulatedFleet.start(nodes=2, base_ip=None, password=PASSWORD, boot_time_s=0.2) as f:
        dev = f.devices[1]
        env = dict(os.environ, MEWARDEN_AMT_PASSWORD=PASSWORD)
        proc = await asyncio.create_subprocess_exec(
            node, str(SCRIPT), str(amt_dir), dev.address, "16992",
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
        )  # fmt: skip
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        result = json.loads(out.decode().strip().splitlines()[-1])
        assert "error" not in result, (result, err.decode()[-500:])
        assert result["realm"] == dev.realm
        assert set(result["versions"]) >= {"AMT", "Flash", "Build Number", "Sku", "VendorID"}
        assert result["versions"]["AMT"] == dev.identity.amt_version
        assert result["power_before"] == 2
        assert result["return_value"] == 0
        assert result["power_after"] == 8
        assert int(dev.power_state) == 8
        assert [r.kind for r in f.action_log if r.address == dev.address][:2] == [
            "power-request",
            "power-off",
        ]


async def test_amtterm_reads_the_console_with_plain_auth() -> None:
    amtterm = require_tool("amtterm")
    async with EmulatedFleet.start(
        nodes=1, base_ip=None, password=PASSWORD, boot_time_s=0.2, mode=ADMIN
    ) as f:
        dev = f.devices[0]
        env = dict(os.environ, AMT_PASSWORD=PASSWORD)  # amtterm reads it; never argv
        proc = await asyncio.create_subprocess_exec(
            amtterm, "-u", "admin", dev.address, "16994",
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
        )  # fmt: skip
        assert proc.stdout is not None
        seen = b""
        for _ in range(100):
            with contextlib.suppress(TimeoutError):
                seen += await asyncio.wait_for(proc.stdout.read(256), 0.1)
            if b"login: " in seen:
                break
        if proc.returncode is None:
            proc.kill()
        _, err = await proc.communicate()
        assert f"{dev.identity.hostname} login: ".encode() in seen, err.decode()
        assert b"serial-over-lan redirection ok" in err


def _lp(*fields: bytes) -> bytes:
    return b"".join(bytes([len(f)]) + f for f in fields)


async def _read_exactly(reader: asyncio.StreamReader, size: int) -> bytes:
    return await asyncio.wait_for(reader.readexactly(size), 5)


async def test_sol_digest_auth_type_4_from_the_documented_layout() -> None:
    """A client written from reference amt.md §3.2 authenticates with digest type 4."""
    async with EmulatedFleet.start(
        nodes=1, base_ip=None, password=PASSWORD, boot_time_s=0.2, mode=ADMIN
    ) as f:
        dev = f.devices[0]
        reader, writer = await asyncio.open_connection(dev.address, 16994)
        writer.write(b"\x10\x00\x00\x00SOL ")
        reply = await _read_exactly(reader, 13)
        assert reply[0] == 0x11
        assert reply[1] == 0
        assert struct.unpack_from("<I", reply, 8)[0] == 343  # Intel's IANA number
        writer.write(b"\x13\x00\x00\x00\x00" + struct.pack("<I", 0))
        query = await _read_exactly(reader, 9)
        offered = await _read_exactly(reader, struct.unpack_from("<I", query, 5)[0])
        assert 4 in offered
        step1 = _lp(b"admin", b"", b"", b"/RedirectionService", b"", b"", b"", b"")
        writer.write(b"\x13\x00\x00\x00\x04" + struct.pack("<I", len(step1)) + step1)
        head = await _read_exactly(reader, 9)
        assert head[1] == 1  # continue: a challenge follows
        data = await _read_exactly(reader, struct.unpack_from("<I", head, 5)[0])
        realm_len = data[0]
        realm = data[1 : 1 + realm_len].decode()
        nonce_len = data[1 + realm_len]
        nonce = data[2 + realm_len : 2 + realm_len + nonce_len].decode()
        assert realm == dev.realm
        ha1 = md5(f"admin:{realm}:{PASSWORD}")
        ha2 = md5("POST:/RedirectionService")
        response = md5(f"{ha1}:{nonce}:00000002:cafe01:auth:{ha2}")
        step2 = _lp(
            b"admin", realm.encode(), nonce.encode(), b"/RedirectionService", b"cafe01",
            b"00000002", response.encode(), b"auth",
        )  # fmt: skip
        writer.write(b"\x13\x00\x00\x00\x04" + struct.pack("<I", len(step2)) + step2)
        result = await _read_exactly(reader, 9)
        assert result[1] == 0
        writer.write(
            b"\x20\x00\x00\x00" + struct.pack("<IHHHHHHI", 1, 1000, 100, 0, 10000, 0, 5000, 0)
        )
        sol = await _read_exactly(reader, 23)
        assert sol[:2] == b"\x21\x00"
        writer.write(b"\x28\x00\x00\x00" + struct.pack("<IH", 2, 5) + b"root\r")
        text = b""
        while b"Password: " not in text:
            header = await _read_exactly(reader, 10)
            assert header[0] == 0x2A
            text += await _read_exactly(reader, struct.unpack_from("<H", header, 8)[0])
        writer.close()


async def test_sol_plain_auth_with_a_wrong_password_fails() -> None:
    async with EmulatedFleet.start(
        nodes=1, base_ip=None, password=PASSWORD, boot_time_s=0.2, mode=ADMIN
    ) as f:
        reader, writer = await asyncio.open_connection(f.devices[0].address, 16994)
        writer.write(b"\x10\x00\x00\x00SOL ")
        await _read_exactly(reader, 13)
        creds = _lp(b"admin", b"wrong")
        writer.write(b"\x13\x00\x00\x00\x01" + struct.pack("<I", len(creds)) + creds)
        result = await _read_exactly(reader, 9)
        assert result[0] == 0x14
        assert result[1] != 0
        writer.write(b"\x20\x00\x00\x00" + bytes(20))
        sol = await _read_exactly(reader, 23)
        assert sol[1] != 0  # no SOL without authentication
        writer.close()


def _fake_cache(root: Path, version: str) -> Path:
    (root / "amt").mkdir(parents=True)
    (root / "amt" / "amt-wsman-comm.js").write_text("")
    (root / "package.json").write_text(json.dumps({"version": version}))
    return root


def test_a_cached_pinned_meshcentral_needs_no_npm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str] = []

    def no_tool(name: str) -> str:
        asked.append(name)
        raise LookupError(name)

    this = sys.modules[__name__]
    monkeypatch.setattr(this, "require_tool", no_tool)
    monkeypatch.setattr(this, "MESHCENTRAL", _fake_cache(tmp_path / "ok", MESHCENTRAL_VERSION))
    assert _meshcentral() == tmp_path / "ok" / "amt"
    assert asked == []
    monkeypatch.setattr(this, "MESHCENTRAL", _fake_cache(tmp_path / "old", "1.1.9"))
    with pytest.raises(LookupError):
        _meshcentral()  # another version in the cache: reinstall the pinned one with npm
    assert asked == ["npm"]
