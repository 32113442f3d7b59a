"""The escape scanner, the emulated host console and the consent policy rule (all pure)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mewarden.emulate.hostconsole import HostConsole
from mewarden.redirect.consent_flow import consent_required, enable_command
from mewarden.redirect.escape import EscapeScanner
from mewarden.redirect.wire import SessionType
from mewarden.wsman.resources import OptInRequired


@pytest.mark.parametrize(
    ("typed", "sent", "leave"),
    [
        (b"ls\r", b"ls\r", False),
        (b"~.", b"", True),  # at the very start
        (b"ls\r~.rest", b"ls\r", True),
        (b"ls~.", b"ls~.", False),  # not at the start of a line
        (b"\r~~", b"\r~", False),  # ~~ sends one tilde
        (b"\r~x", b"\r~x", False),  # a tilde that starts nothing goes out after all
        (b"abc\x1ddef", b"abc", True),  # Ctrl-] anywhere
        ("é\r~.".encode(), "é\r".encode(), True),  # UTF-8 passes as bytes
    ],
)
def test_the_escape(typed: bytes, sent: bytes, leave: bool) -> None:
    assert EscapeScanner().feed(typed) == (sent, leave)


def test_the_escape_across_reads() -> None:
    scanner = EscapeScanner()
    assert scanner.feed(b"x\r") == (b"x\r", False)
    assert scanner.feed(b"~") == (b"", False)  # held: maybe an escape
    assert scanner.feed(b".") == (b"", True)


@given(st.binary(max_size=200))
def test_without_escape_characters_everything_is_sent(data: bytes) -> None:
    clean = data.replace(b"~", b"").replace(b"\x1d", b"")
    assert EscapeScanner().feed(clean) == (clean, False)


def test_host_console_lines_stream_and_screen() -> None:
    console = HostConsole(keep_bytes=64, history=3)
    console.append("boot")
    console.write("\r\nlogin: roott\b")
    assert console[-1] == "login: root"
    assert console.lines() == ["", "boot", "login: root"]
    data, offset = console.read_from(0)
    assert data == b"\r\nboot\r\nlogin: roott\b"
    assert offset == console.offset
    version = console.version
    console.append("x" * 100)  # past keep_bytes and history
    assert console.version > version
    assert len(console) == 3
    late, _ = console.read_from(offset)
    assert late.endswith(b"x" * 10)
    assert len(late) <= 64
    assert console.screen(rows=2, columns=5) == ["login", "xxxxx"]


def test_host_console_tail_offset_starts_at_a_line_break() -> None:
    console = HostConsole()
    for line in ("a", "b", "c", "login: "):
        console.append(line)
    data, _ = console.read_from(console.tail_offset(2))
    assert data == b"\r\nc\r\nlogin: "
    assert console.read_from(console.tail_offset(99))[0].startswith(b"\r\na")


def test_consent_rule_and_enable_command() -> None:
    for kind in SessionType:
        assert not consent_required(OptInRequired.NONE, kind)
        assert consent_required(OptInRequired.ALL, kind)
        assert consent_required(OptInRequired.KVM, kind) == (kind is SessionType.KVM)
        assert consent_required(12345, kind)  # an unknown policy: ask
    assert enable_command("h", SessionType.SOL, tls=True) == (
        "mewarden amt --host h --tls redirection enable --sol"
    )
