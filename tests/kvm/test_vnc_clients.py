"""Standard VNC clients see the emulated node's screen, directly on port 5900 (with the RFB
password) and through ``mewarden amt kvm --listen`` (AMT's redirection port, digest, Intel RLE
in 16-bit colour upstream): vncdotool (PyPI), gvnccapture and vncsnapshot (Debian). Their
captures equal the emulator's own framebuffer.
"""

from __future__ import annotations

import contextlib
import json
import os
import pty
import random
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mewarden.emulate.screen import Screen
from mewarden.rfb.vncauth import des_key
from mewarden.secret import Secret
from tests.amt.emulated import PASSWORD, ThreadedEmulator
from tests.support import require_tool, run_mewarden

RFB_PASSWORD = "Rfb-pw12"
VNC_PASSWORD = "local-pw"
VNCDO = Path(sys.executable).with_name("vncdo")
#: vncpasswd files hold the password DES-encrypted under this fixed key (TightVNC's, public).
VNCPASSWD_KEY = bytes([23, 82, 107, 6, 35, 78, 88, 7])

pytestmark = pytest.mark.system


@pytest.fixture
def emu() -> Iterator[ThreadedEmulator]:
    with ThreadedEmulator() as running:
        yield running


@pytest.fixture(autouse=True)
def _credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEWARDEN_AMT_PASSWORD", PASSWORD)
    monkeypatch.setenv("MEWARDEN_VNC_PASSWORD", VNC_PASSWORD)
    monkeypatch.delenv("MEWARDEN_CONSENT_CODE", raising=False)


def _loopback() -> str:
    """A fresh address in this suite's loopback range (127.152.0.0/16)."""
    return f"127.152.{random.randrange(1, 255)}.{random.randrange(1, 255)}"


def give_consent(emu: ThreadedEmulator) -> None:
    """What a person at the node does: read the code off the screen and confirm it."""

    def confirm() -> None:
        state = emu.device().state
        state.start_opt_in(0.0)
        state.send_opt_in_code(state.opt_in_code or "", 0.0)

    emu.call(confirm)


def framebuffer(emu: ThreadedEmulator) -> np.ndarray:
    return emu.call(lambda: Screen().frame(emu.device().state))


def enable_5900(emu: ThreadedEmulator, tmp_path: Path) -> None:
    secret = tmp_path / "rfb"
    secret.write_text(RFB_PASSWORD + "\n")
    result = run_mewarden(
        "amt", "--host", emu.host(), "kvm", "settings", "--port-5900", "on",
        "--rfb-password-file", str(secret), "--no-opt-in", "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["port_5900"] is True
    assert shown["opt_in_policy"] is False
    assert RFB_PASSWORD not in result.stdout


@contextlib.contextmanager
def bridge(
    emu: ThreadedEmulator,
    listen: str,
    *options: str,
    tls: bool = False,
    notes: list[str] | None = None,
) -> Iterator[str]:
    """``mewarden amt kvm --listen`` as a user runs it; yields the address it listens on."""
    extra = ["--tls"] if tls else []
    process = subprocess.Popen(
        [sys.executable, "-m", "mewarden", "amt", "--host", emu.host(tls=tls), *extra,
         "kvm", "--listen", listen, *options, "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line:
            pytest.fail(f"the bridge did not start: {process.communicate(timeout=10)[1]}")
        if notes is not None:
            assert process.stderr is not None
            notes.append(process.stderr.readline())
        yield str(json.loads(line)["listen"])
    finally:
        process.send_signal(signal.SIGINT)
        try:
            _, err = process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            _, err = process.communicate()
        assert "Traceback" not in err


def vncdo_capture(address: str, password: str, out: Path) -> subprocess.CompletedProcess[str]:
    host, port = address.rsplit(":", 1)
    return subprocess.run(
        [str(VNCDO), "-s", f"{host}::{port}", "-p", password, "-t", "20", "capture", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def gvnccapture(address: str, password: str, out: Path) -> int:
    """gvnccapture asks for the password on its terminal: give it one."""
    tool = require_tool("gvnccapture")
    host, port = address.rsplit(":", 1)
    master, slave = pty.openpty()
    process = subprocess.Popen(
        [tool, f"{host}:{int(port) - 5900}", str(out)], stdin=slave, stdout=slave, stderr=slave
    )
    seen, deadline = b"", time.monotonic() + 30
    try:
        while process.poll() is None and time.monotonic() < deadline:
            if select.select([master], [], [], 0.2)[0]:
                try:
                    seen += os.read(master, 4096)
                except OSError:
                    break
                if seen.endswith(b"Password: "):
                    time.sleep(0.2)  # it turns echo off (flushing input) right after the prompt
                    os.write(master, password.encode() + b"\n")
        return process.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        os.close(master)
        os.close(slave)


def capture(path: Path) -> np.ndarray:
    return np.array(Image.open(path).convert("RGB"))


# --- port 5900 -----------------------------------------------------------------------------------


def test_vncdotool_and_gvnccapture_capture_port_5900_exactly(
    emu: ThreadedEmulator, tmp_path: Path
) -> None:
    enable_5900(emu, tmp_path)
    address = f"{emu.device().address}:5900"
    result = vncdo_capture(address, RFB_PASSWORD, tmp_path / "vncdo.png")
    assert result.returncode == 0, result.stderr
    assert (capture(tmp_path / "vncdo.png") == framebuffer(emu)).all()
    assert gvnccapture(address, RFB_PASSWORD, tmp_path / "gvnc.png") == 0
    assert (capture(tmp_path / "gvnc.png") == framebuffer(emu)).all()


def test_vncsnapshot_captures_port_5900(emu: ThreadedEmulator, tmp_path: Path) -> None:
    from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
    from cryptography.hazmat.primitives.ciphers import Cipher, modes

    tool = require_tool("vncsnapshot")
    enable_5900(emu, tmp_path)
    fixed = Secret(VNCPASSWD_KEY.decode("latin-1"))
    encryptor = Cipher(TripleDES(des_key(fixed) * 3), modes.ECB()).encryptor()
    passwd = tmp_path / "passwd"
    passwd.write_bytes(encryptor.update(RFB_PASSWORD.encode()) + encryptor.finalize())
    out = tmp_path / "snap.jpg"
    result = subprocess.run(
        [tool, "-quiet", "-passwd", str(passwd), "-encodings", "raw", "-quality", "100",
         f"{emu.device().address}:0", str(out)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    # vncsnapshot writes only JPEG: equal up to JPEG's rounding on white-on-black text
    difference = np.abs(capture(out).astype(int) - framebuffer(emu).astype(int))
    assert difference.max() <= 8


def test_wrong_rfb_password_on_5900_is_refused(emu: ThreadedEmulator, tmp_path: Path) -> None:
    enable_5900(emu, tmp_path)
    result = vncdo_capture(f"{emu.device().address}:5900", "Wrong-pw", tmp_path / "x.png")
    assert result.returncode != 0
    assert "authentication failed" in result.stderr.lower()
    assert not (tmp_path / "x.png").exists()


def test_port_5900_is_closed_until_enabled(emu: ThreadedEmulator, tmp_path: Path) -> None:
    result = vncdo_capture(f"{emu.device().address}:5900", RFB_PASSWORD, tmp_path / "x.png")
    assert result.returncode != 0
    assert not (tmp_path / "x.png").exists()


# --- through the bridge --------------------------------------------------------------------------


def test_vncdotool_and_gvnccapture_capture_through_the_bridge(
    emu: ThreadedEmulator, tmp_path: Path
) -> None:
    give_consent(emu)
    with bridge(emu, f"{_loopback()}:5901") as address:
        result = vncdo_capture(address, VNC_PASSWORD, tmp_path / "vncdo.png")
        assert result.returncode == 0, result.stderr
        assert (capture(tmp_path / "vncdo.png") == framebuffer(emu)).all()
        assert gvnccapture(address, VNC_PASSWORD, tmp_path / "gvnc.png") == 0
        assert (capture(tmp_path / "gvnc.png") == framebuffer(emu)).all()


def test_keys_typed_in_a_viewer_reach_the_host_console(
    emu: ThreadedEmulator, tmp_path: Path
) -> None:
    give_consent(emu)
    with bridge(emu, f"{_loopback()}:0") as address:
        host, port = address.rsplit(":", 1)
        result = subprocess.run(
            [str(VNCDO), "-s", f"{host}::{port}", "-p", VNC_PASSWORD, "type", "root",
             "key", "enter", "pause", "0.5", "capture", str(tmp_path / "after.png")],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = emu.call(lambda: list(emu.device().state.console.lines()))
    assert any(line.endswith("login: root") for line in lines)
    assert lines[-1] == "Password: "
    assert (capture(tmp_path / "after.png") == framebuffer(emu)).all()


def test_bridge_over_tls_with_a_wrong_local_password(tmp_path: Path) -> None:
    with ThreadedEmulator(tls=True) as emu:
        give_consent(emu)
        with bridge(emu, f"{_loopback()}:0", tls=True) as address:
            bad = vncdo_capture(address, "not-this", tmp_path / "bad.png")
            assert bad.returncode != 0
            good = vncdo_capture(address, VNC_PASSWORD, tmp_path / "good.png")
            assert good.returncode == 0, good.stderr
        assert (capture(tmp_path / "good.png") == framebuffer(emu)).all()
    assert not (tmp_path / "bad.png").exists()


def test_generated_vnc_password_is_printed_once_and_works(
    emu: ThreadedEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MEWARDEN_VNC_PASSWORD")
    give_consent(emu)
    notes: list[str] = []
    with bridge(emu, f"{_loopback()}:0", notes=notes) as address:
        prefix = "mewarden: VNC password (shown once): "
        assert notes[0].startswith(prefix)
        generated = notes[0][len(prefix) :].strip()
        assert len(generated) == 8
        result = vncdo_capture(address, generated, tmp_path / "shot.png")
        assert result.returncode == 0, result.stderr
    assert (capture(tmp_path / "shot.png") == framebuffer(emu)).all()


def test_node_kvm_screenshot_uses_the_vault_and_is_audited(
    emu: ThreadedEmulator, tmp_path: Path
) -> None:
    from tests.state.clihelp import Cli

    cli = Cli(tmp_path, f"sqlite:///{tmp_path / 'org.db'}")
    cli("org", "init")
    cli(
        "node", "enroll", "n1", "--policy", "use", "--amt-host", emu.device().address,
        "--consent", "all", MEWARDEN_AMT_PASSWORD=PASSWORD,
    )  # fmt: skip
    give_consent(emu)
    shot = tmp_path / "n1.png"
    done = cli.json("node", "kvm", "n1", "--screenshot", str(shot))
    assert done["file"] == str(shot)
    assert (capture(shot) == framebuffer(emu)).all()
    events = cli.json("events", "--node", "n1")
    kinds = [
        (e["kind"], e["detail"].get("kind")) for e in events if e["kind"].startswith("console")
    ]
    assert kinds[-2:] == [("console.open", "kvm"), ("console.close", "kvm")]
    # consent was used up by that session: without a code now, one line and the close audited
    refused = cli("node", "kvm", "n1", "--screenshot", str(tmp_path / "no.png"), code=2)
    assert "MEWARDEN_CONSENT_CODE" in refused.stderr
    assert not (tmp_path / "no.png").exists()
    last = cli.json("events", "--node", "n1")[-1]
    assert (last["kind"], last["detail"]) == (
        "console.close",
        {"kind": "kvm", "error": "BadInputError"},
    )


def test_8_bit_colour_from_amt_reaches_the_viewer_in_full_colour(
    emu: ThreadedEmulator, tmp_path: Path
) -> None:
    """AMT's RGB332 upstream, 32-bit downstream: the consent banner's blue and yellow and the
    white text arrive exactly (the emulator's colours are representable in 8 bits)."""
    give_consent(emu)

    def start_consent_again() -> None:  # a pending code puts the coloured banner on screen
        emu.device().state.start_opt_in(0.0)

    with bridge(emu, f"{_loopback()}:0", "--colour", "8") as address:
        first = vncdo_capture(address, VNC_PASSWORD, tmp_path / "first.png")  # opens AMT's KVM
        assert first.returncode == 0, first.stderr
        emu.call(start_consent_again)  # the session stays; its screen now shows the banner
        result = vncdo_capture(address, VNC_PASSWORD, tmp_path / "eight.png")
        assert result.returncode == 0, result.stderr
    image = capture(tmp_path / "eight.png")
    assert (image == framebuffer(emu)).all()
    assert len(np.unique(image.reshape(-1, 3), axis=0)) == 4  # black, white, blue, yellow
