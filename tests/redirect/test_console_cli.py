"""``mewarden amt console`` as users run it: in a real pty (pexpect) over digest and TLS, and
each bad path as one error line with its exit code."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest

from mewarden.emulate.values import ControlMode
from tests.redirect.support import PASSWORD, EmulatorThread

ENV = dict(os.environ, MEWARDEN_AMT_PASSWORD=PASSWORD, TERM="xterm")
ENV.pop("MEWARDEN_CONSENT_CODE", None)
# the console, then its exit status and the terminal's settings once it is gone
SHELL = "{cmd}; echo EXIT=$?; stty -a"


@pytest.fixture
def emu() -> Iterator[EmulatorThread]:
    with EmulatorThread() as running:
        yield running


def _command(host: str, *args: str) -> str:
    return " ".join([sys.executable, "-m", "mewarden", "amt", "--host", host, *args])


def _spawn(command: str, env: dict[str, str] = ENV) -> pexpect.spawn[str]:
    child = pexpect.spawn(
        "sh",
        ["-c", SHELL.format(cmd=command)],
        env=env,
        timeout=20,
        dimensions=(40, 120),
        encoding="utf-8",
    )
    child.logfile_read = None
    return child


def _log_in_and_type(child: pexpect.spawn[str], text: str) -> None:
    child.expect("login: ")
    child.send("root\r")
    child.expect("Password: ")
    child.send("not-echoed\r")
    child.expect(r"root@node\d+:~\$ ")
    child.send(f"echo {text}\r")
    child.expect(f"\r\n{text}\r\n")


def _left_cleanly(child: pexpect.spawn[str], code: int = 0) -> str:
    child.expect(r"EXIT=(\d+)")
    match = child.match
    assert isinstance(match, re.Match)
    assert int(match.group(1)) == code
    child.expect(pexpect.EOF)
    settings = str(child.before or "")
    assert " icanon" in settings  # cooked again: raw mode was undone
    assert " echo " in settings
    return settings


@pytest.mark.parametrize("tls", [False, True])
def test_the_console_in_a_pty_over_digest_and_tls(emu: EmulatorThread, tls: bool) -> None:
    args = ["--tls", "console"] if tls else ["console"]
    child = _spawn(_command(emu.host, *args))
    child.expect(r"to leave: ~\. at the start of a line, or Ctrl-\]")
    _log_in_and_type(child, "typed-in-a-pty-é")  # UTF-8 both ways
    lines = emu.call(emu.device.state.console.lines)
    assert any("echo typed-in-a-pty-é" in line for line in lines)
    assert not any("not-echoed" in line for line in lines)  # the password is not echoed
    child.send("\r~.")
    child.expect("console to .* closed")
    _left_cleanly(child)


def test_consent_in_client_control_mode_asks_for_the_code() -> None:
    with EmulatorThread(mode=ControlMode.CLIENT) as emu:
        child = _spawn(_command(emu.host, "console"))
        child.expect("User consent code shown on the managed screen: ")
        code = emu.call(lambda: emu.device.state.opt_in_code)
        assert code is not None
        child.send(f"{code}\r")
        child.expect("login: ")
        child.send("\x1d")  # Ctrl-]
        _left_cleanly(child)


def test_a_link_dropped_mid_session_restores_the_terminal(emu: EmulatorThread) -> None:
    child = _spawn(_command(emu.host, "console"))
    child.expect("login: ")
    emu.call(lambda: emu.fleet.inject_fault(emu.host, "amt-unreachable"))
    child.expect(r"mewarden: error: the redirection link to .* dropped")
    _left_cleanly(child, code=4)


def _run(host: str, *args: str, env: dict[str, str] = ENV) -> tuple[int, str, str]:
    proc = subprocess.run(
        [sys.executable, "-m", "mewarden", "amt", "--host", host, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    return proc.returncode, proc.stdout, proc.stderr


def _one_line_error(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("mewarden: error: ")
    return lines[0]


def test_capture_prints_the_console_for_scripts(emu: EmulatorThread) -> None:
    code, out, err = _run(emu.host, "console", "--capture", "0.5")
    assert code == 0, err
    assert out.rstrip().endswith(f"{emu.device.identity.hostname} login:")
    assert "\r" not in out


def test_bad_paths_are_one_line_errors_with_exit_codes(emu: EmulatorThread) -> None:
    host = emu.host
    wrong = dict(ENV, MEWARDEN_AMT_PASSWORD="Wr0ng-Passw0rd")
    code, _, err = _run(host, "console", "--capture", "0.3", env=wrong)
    assert code == 5
    assert "Wr0ng" not in _one_line_error(err)
    pin = hashlib.sha256(b"some other certificate").hexdigest()
    code, _, err = _run(host, "--tls", "--pin", pin, "console", "--capture", "0.3")
    assert code == 8
    assert "not the pinned fingerprint" in _one_line_error(err)
    emu.call(lambda: emu.device.state.request_redirection_state(32769, 0.0))
    code, _, err = _run(host, "console", "--capture", "0.3")
    assert code == 7
    line = _one_line_error(err)
    assert f"enable it with: mewarden amt --host {host} redirection enable --sol" in line
    emu.call(lambda: emu.device.state.request_redirection_state(32771, 0.0))
    emu.call(lambda: emu.device.state.request_power(8, emu.device.now()))
    code, _, err = _run(host, "console", "--capture", "0.3")
    assert code == 4
    assert f"mewarden amt --host {host} power on" in _one_line_error(err)
    code, _, err = _run(host, "console", "--capture", "0.5", "--allow-off")
    assert code == 0
    assert "powered off (AMT's SOL status)" in err


def test_link_dropped_during_capture(emu: EmulatorThread) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "mewarden", "amt", "--host", emu.host, "console", "--capture", "8"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    for _ in range(100):
        time.sleep(0.05)
        if emu.call(lambda: emu.device.connections) >= 1:
            break
    time.sleep(1.5)  # the WS-MAN checks, then SOL opens
    emu.call(lambda: emu.fleet.inject_fault(emu.host, "amt-unreachable"))
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 4
    assert "dropped" in _one_line_error(err)


def test_consent_with_a_wrong_code_is_refused() -> None:
    with EmulatorThread(mode=ControlMode.CLIENT) as emu:
        env = dict(ENV, MEWARDEN_CONSENT_CODE="000000")
        emu.call(lambda: emu.device.state.start_opt_in(0.0))
        assert emu.call(lambda: emu.device.state.opt_in_code) != "000000"
        code, _, err = _run(emu.host, "console", "--capture", "0.3", env=env)
        assert code == 5
        assert "did not accept the consent code" in _one_line_error(err)


def test_log_keeps_a_transcript(emu: EmulatorThread, tmp_path: Path) -> None:
    log = tmp_path / "sol.log"
    code, _, err = _run(emu.host, "console", "--capture", "0.5", "--log", str(log))
    assert code == 0, err
    assert log.read_bytes().endswith(b"login: ")
    assert b"\r\n" in log.read_bytes()  # the host's bytes as they came
    assert not log.with_name("sol.log.part").exists()


def test_read_only_sends_nothing(emu: EmulatorThread) -> None:
    child = _spawn(_command(emu.host, "console", "--read-only"))
    child.expect(r"\(read-only\)")
    child.expect("login: ")
    child.send("root\r")
    child.send("\x1d")
    _left_cleanly(child)
    assert emu.call(emu.device.state.console.lines)[-1].endswith("login: ")
    assert not any("root" in line for line in emu.call(emu.device.state.console.lines))
