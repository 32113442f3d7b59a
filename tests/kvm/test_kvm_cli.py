"""``mewarden amt kvm`` screenshot and settings against the emulator, and the bad paths: each a
one-line error with its exit code, before any network where the input alone is wrong."""

from __future__ import annotations

import io
import json
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from mewarden.cli.main import main
from mewarden.emulate.screen import BANNER_BG, Screen
from mewarden.emulate.values import OptInState
from tests.amt.emulated import PASSWORD, ThreadedEmulator

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def emu() -> Iterator[ThreadedEmulator]:
    with ThreadedEmulator() as running:
        yield running


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Run:
    monkeypatch.setenv("MEWARDEN_AMT_PASSWORD", PASSWORD)
    monkeypatch.delenv("MEWARDEN_CONSENT_CODE", raising=False)

    def invoke(*args: str) -> tuple[int, str, str]:
        with pytest.raises(SystemExit) as info:
            main(["amt", "--timeout", "5", *args])
        out, err = capsys.readouterr()
        assert "Traceback" not in err
        return int(info.value.code or 0), out, err

    return invoke


def _one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize("listen", ["0.0.0.0:5901", "192.0.2.7:5901", "[::]:5901", "node:5901"])
def test_non_loopback_listen_is_refused_before_anything_else(run: Run, listen: str) -> None:
    code, _, err = run("--host", "127.152.0.1:1", "kvm", "--listen", listen)
    assert code == 2
    assert "is not a loopback address" in _one_line(err)
    assert "--allow-remote" in err


def test_listen_needs_a_port(run: Run) -> None:
    code, _, err = run("--host", "127.152.0.1:1", "kvm", "--listen", "127.0.0.1")
    assert code == 2
    assert "host:port" in _one_line(err)


def test_rfb_password_must_be_8_characters(run: Run, tmp_path: Path) -> None:
    secret = tmp_path / "rfb"
    secret.write_text("short\n")
    code, _, err = run(
        "--host", "127.152.0.1:1", "kvm", "settings", "--rfb-password-file", str(secret)
    )
    assert code == 2
    assert "exactly 8 characters" in _one_line(err)


def test_disabled_kvm_names_the_enabling_command(
    run: Run, emu: ThreadedEmulator, tmp_path: Path
) -> None:
    assert run("--host", emu.host(), "redirection", "disable", "--kvm")[0] == 0
    shot = tmp_path / "screen.png"
    code, _, err = run("--host", emu.host(), "kvm", "screenshot", "-o", str(shot))
    assert code == 7
    line = _one_line(err)
    assert "KVM is disabled" in line
    assert f"mewarden amt --host {emu.host()} redirection enable --kvm" in line
    assert not shot.exists()


def test_screenshot_after_user_consent_equals_the_framebuffer(
    run: Run, emu: ThreadedEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run("--host", emu.host(), "consent", "start")[0] == 0
    state = emu.state()
    assert state.opt_in_state is OptInState.DISPLAYED
    # the code is on the managed screen: the banner is drawn while consent is pending
    pending = emu.call(lambda: Screen().frame(emu.device().state))
    assert (pending[:48] == BANNER_BG).all(axis=2).any()
    code_shown = emu.call(lambda: emu.fleet.consent_code(emu.device().address))
    assert code_shown is not None
    monkeypatch.setenv("MEWARDEN_CONSENT_CODE", code_shown)
    shot = tmp_path / "screen.png"
    code, out, err = run("--host", emu.host(), "kvm", "screenshot", "-o", str(shot), "--json")
    assert code == 0, err
    assert json.loads(out)["file"] == str(shot)
    image = np.array(Image.open(io.BytesIO(shot.read_bytes())).convert("RGB"))
    assert (image == emu.call(lambda: Screen().frame(emu.device().state))).all()
    assert not (image[:48] == BANNER_BG).all(axis=2).any()  # consent given: the banner is gone


def test_wrong_consent_code_is_an_auth_error(
    run: Run, emu: ThreadedEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run("--host", emu.host(), "consent", "start")[0] == 0
    shown = emu.call(lambda: emu.fleet.consent_code(emu.device().address)) or "000000"
    monkeypatch.setenv("MEWARDEN_CONSENT_CODE", f"{(int(shown) + 1) % 1_000_000:06d}")
    shot = tmp_path / "screen.png"
    code, _, err = run("--host", emu.host(), "kvm", "screenshot", "-o", str(shot))
    assert code == 5
    assert "consent code" in _one_line(err)
    assert not shot.exists()


def _port_5900_open(emu: ThreadedEmulator) -> bool:
    try:
        socket.create_connection((emu.device().address, 5900), timeout=2).close()
    except ConnectionRefusedError:
        return False
    return True


def test_settings_show_and_set(run: Run, emu: ThreadedEmulator, tmp_path: Path) -> None:
    assert not _port_5900_open(emu)  # as on AMT: closed until enabled
    code, out, err = run("--host", emu.host(), "kvm", "settings", "--json")
    assert code == 0, err
    before: dict[str, Any] = json.loads(out)
    assert before["kvm_enabled"] is True
    assert before["port_5900"] is False
    secret = tmp_path / "rfb"
    secret.write_text("Abc-1234\n")
    code, out, err = run(
        "--host", emu.host(), "kvm", "settings", "--port-5900", "on", "--rfb-password-file",
        str(secret), "--session-timeout", "7", "--no-opt-in", "--json",
    )  # fmt: skip
    assert code == 0, err
    after = json.loads(out)
    assert (after["port_5900"], after["session_timeout_min"], after["opt_in_policy"]) == (
        True,
        7,
        False,
    )
    assert "Abc-1234" not in out
    kvm = emu.state().kvm
    assert kvm.rfb_password is not None
    assert kvm.rfb_password.reveal() == "Abc-1234"
    assert _port_5900_open(emu)
    assert run("--host", emu.host(), "kvm", "settings", "--port-5900", "off")[0] == 0
    assert not _port_5900_open(emu)
