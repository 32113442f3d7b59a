"""The shared foundation: error tree, JSON conversion, atomic writes, CLI error handling."""

from __future__ import annotations

import enum
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from mewarden import errors
from mewarden.cli.main import cli
from mewarden.fsutil import atomic_write_bytes, read_input_file
from mewarden.jsonutil import to_jsonable
from mewarden.secret import Secret


def _all_error_classes() -> list[type[errors.MewardenError]]:
    found: list[type[errors.MewardenError]] = []
    pending: list[type[errors.MewardenError]] = [errors.MewardenError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


def test_every_error_has_an_exit_code_and_retry_flag() -> None:
    classes = _all_error_classes()
    assert len(classes) > 10
    for cls in classes:
        assert 1 <= cls.exit_code <= 125, cls
        assert isinstance(cls.retryable, bool), cls


def test_transient_network_errors_are_retryable_but_auth_is_not() -> None:
    assert errors.AmtUnreachableError.retryable
    assert errors.AmtBusyError.retryable
    assert not errors.AmtAuthError.retryable
    assert not errors.FirmwareFormatError.retryable


def test_format_error_names_offset() -> None:
    assert "0x1f" in str(errors.FirmwareFormatError("bad", offset=0x1F))


class _Color(enum.IntEnum):
    DARK_RED = 3


class _Mode(enum.StrEnum):
    USE = "use"


@dataclass(frozen=True, slots=True)
class _Value:
    color: _Color
    mode: _Mode
    raw: bytes
    items: tuple[int, ...]
    secret: Secret


def test_to_jsonable_rules() -> None:
    value = _Value(
        color=_Color.DARK_RED, mode=_Mode.USE, raw=b"\x01\xab", items=(1, 2), secret=Secret("pw")
    )
    assert to_jsonable(value) == {
        "color": "dark-red",
        "mode": "use",
        "raw": "01ab",
        "items": [1, 2],
        "secret": {},
    }


def test_secret_never_shows() -> None:
    secret = Secret("hunter2")
    assert "hunter2" not in repr(secret)
    assert "hunter2" not in str(secret)
    assert "hunter2" not in f"{secret!r} {secret}"
    assert secret.reveal() == "hunter2"


def test_atomic_write_replaces_and_sets_mode(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    atomic_write_bytes(target, b"new", mode=0o600)
    assert target.read_bytes() == b"new"
    assert (target.stat().st_mode & 0o777) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]


def test_atomic_write_into_missing_directory_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(errors.BadInputError):
        atomic_write_bytes(tmp_path / "nope" / "x", b"")


def test_read_input_file_errors_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(errors.BadInputError, match="does not exist"):
        read_input_file(tmp_path / "missing")
    with pytest.raises(errors.BadInputError, match="directory"):
        read_input_file(tmp_path)


def test_cli_help_lists_commands() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    assert "Usage" in result.output


def test_unknown_command_is_usage_error_without_traceback() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "mewarden", "no-such-command"],
        capture_output=True,
        text=True,
        env={**os.environ, "MEWARDEN_DEBUG": ""},
        check=False,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr


def test_cached_loggers_write_to_the_current_stderr(monkeypatch: pytest.MonkeyPatch) -> None:
    """A logger first used under one stderr keeps working after it is swapped and closed
    (click's runner and pytest's capture do that between in-process CLI runs)."""
    import io

    import structlog

    from mewarden.log import configure_logging

    first = io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    configure_logging(level="info")
    logger = structlog.get_logger("foundation-test")
    logger.info("under the first stream")
    assert "under the first stream" in first.getvalue()
    first.close()
    second = io.StringIO()
    monkeypatch.setattr(sys, "stderr", second)
    logger.info("under the second stream")
    assert "under the second stream" in second.getvalue()
    structlog.reset_defaults()
