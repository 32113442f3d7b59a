"""`mewarden node reinstall`: an enrolled node's OS re-installed over IDER, every step audited."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from tests.ider.fleet import PASSWORD, ider_fleet
from tests.ider.images import xorriso_iso


class _AsyncCli:
    def __init__(self, home: Path) -> None:
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("MEWARDEN_")}
        self.env["XDG_STATE_HOME"] = str(home)
        self.env["MEWARDEN_KEY_FILE"] = str(home / "org.key")

    async def __call__(self, *args: str, **env: str) -> tuple[int, str, str]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "mewarden",
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            stdin=asyncio.subprocess.DEVNULL,
            env={**self.env, **env},
        )
        out, err = await asyncio.wait_for(proc.communicate(), 90)
        assert b"Traceback" not in err
        return int(proc.returncode or 0), out.decode(), err.decode()


def test_reinstall_boots_the_installer_and_completes_on_reenrolment(tmp_path: Path) -> None:
    built = xorriso_iso(tmp_path, "NODE_REINSTALL")
    junk = tmp_path / "junk.iso"
    junk.write_bytes(bytes(64 * 2048))

    async def scenario() -> None:
        async with ider_fleet() as fleet:
            dev = fleet.devices[0]
            cli = _AsyncCli(tmp_path / "home")
            assert (await cli("org", "init"))[0] == 0
            enrolled = await cli(
                "node", "enroll", "web1", "--policy", "use", "--amt-host", dev.address,
                MEWARDEN_AMT_PASSWORD=PASSWORD,
            )  # fmt: skip
            assert enrolled[0] == 0, enrolled[2]
            code, _out, err = await cli("node", "reinstall", "web1", "--image", str(junk))
            assert (code, err.count("\n")) == (2, 1)
            assert "not an ISO 9660 image" in err
            args = ("node", "reinstall", "web1", "--image", str(built.path))
            code, _out, err = await cli(*args)  # the default profile leaves IDE-R off
            assert (code, err.count("\n")) == (7, 1)
            assert "IDER is disabled" in err
            assert "redirection enable --ider" in err
            dev.state.redirection_state = 32771  # what that command does
            fleet.inject_fault(dev.address, "broken-os")
            code, out, err = await cli(
                "node", "reinstall", "web1", "--image", str(built.path), "--timeout", "30", "--json"
            )
            assert code == 0, err
            report = json.loads(out)
            assert report["volume_id"] == "NODE_REINSTALL"
            assert report["boot_image_sha256"] == built.boot_sha256
            assert report["ended"] == "ejected"
            assert report["reenroll_count"] == 1
            state = dev.state
            assert state.ider_boot is not None
            assert state.ider_boot.volume_id == "NODE_REINSTALL"
            assert not state.os_broken
            code, out, _err = await cli("events", "--json")
            kinds = [e["kind"] for e in json.loads(out) if e["kind"].startswith("node.reinstall")]
            assert kinds == [
                "node.reinstall-started",  # the refused attempt (junk never got this far)
                "node.reinstall-started",
                "node.reinstall-booting",
                "node.reinstall-served",
                "node.reinstall-completed",
            ]

    asyncio.run(scenario())
