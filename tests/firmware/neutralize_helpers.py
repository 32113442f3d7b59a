"""Helpers for the ``firmware neutralize`` tests: composed images, the oracle table, the CLI."""

from __future__ import annotations

import os
import re
import struct
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from mewarden.firmware.descriptor import parse_descriptor
from tests.support import REPO_ROOT, require_fixture

# Until the ``firmware`` group (cli/cmd_firmware.py) registers ``neutralize``, the command is
# attached to the root group under another name; both paths go through ``cli.main.main``.
RUNNER = """
import sys
from mewarden.cli.main import cli, main
from mewarden.cli.firmware_neutralize import neutralize_command
cli.add_command(neutralize_command, name="firmware-neutralize")
main(sys.argv[1:])
"""
KILL_AT_FSYNC = """
import os, signal
os.fsync = lambda fd: os.kill(os.getpid(), signal.SIGKILL)
"""


def _argv(args: list[str], prelude: str = "") -> list[str]:
    if (REPO_ROOT / "src" / "mewarden" / "cli" / "cmd_firmware.py").is_file() and not prelude:
        return [sys.executable, "-m", "mewarden", "firmware", "neutralize", *args]
    return [sys.executable, "-c", prelude + RUNNER, "firmware-neutralize", *args]


def run_neutralize(
    args: list[str], *, prelude: str = "", cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``mewarden firmware neutralize ARGS`` in a subprocess."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "src")}
    return subprocess.run(
        _argv(args, prelude),
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
        env=env,
        timeout=120,
    )


def compose(descriptor_fixture: str, me_fixture: str | None = None) -> bytes:
    """A full image: the descriptor at 0, the ME region at FLREG2, 0xFF elsewhere.

    This is the recipe of ``expected-neutralize.md`` ("A composed full image").
    """
    descriptor_bytes = require_fixture(descriptor_fixture).read_bytes()
    descriptor = parse_descriptor(descriptor_bytes)
    assert descriptor.flash_size is not None
    image = bytearray(b"\xff" * descriptor.flash_size)
    image[: len(descriptor_bytes)] = descriptor_bytes
    if me_fixture is not None:
        me = require_fixture(me_fixture).read_bytes()
        region = descriptor.region("me")
        assert region is not None
        image[region.start : region.start + len(me)] = me
    return bytes(image)


def add_boot_guard_fit(image: bytes) -> bytes:
    """``image`` with a FIT naming a Key Manifest and a Boot Policy Manifest (types 0x0B/0x0C).

    Layout from ``../shared/reference/firmware.md`` §4.1: pointer at 4 GiB - 0x40, 16-byte
    entries, the header's size field counting entries including itself.
    """
    data = bytearray(image)
    size = len(data)
    base = (1 << 32) - size
    fit, keym, acbp = size - 0x10000, size - 0x20000, size - 0x1F000
    data[keym : keym + 8] = b"__KEYM__"
    data[acbp : acbp + 8] = b"__ACBP__"
    entries = [
        (int.from_bytes(b"_FIT_   ", "little"), 3, 0x0100, 0x00),
        (base + keym, 0x241, 0x0100, 0x0B),
        (base + acbp, 0x2DF, 0x0100, 0x0C),
    ]
    for index, (address, length, version, kind) in enumerate(entries):
        struct.pack_into(
            "<QHBxHBx",
            data,
            fit + 16 * index,
            address,
            length & 0xFFFF,
            length >> 16,
            version,
            kind,
        )
    struct.pack_into("<I", data, size - 0x40, base + fit)
    return bytes(data)


@dataclass(frozen=True, slots=True)
class Golden:
    """One row of ``expected-neutralize.md``."""

    input: str
    options: str
    size: int | None
    sha256: str


_BARE_ROW = re.compile(r"^\| (\S+\.bin) \| ([^|]+) \| [^|]+ \| (\d+) \| ([0-9a-f]{64}) \|$")
_FULL_ROW = re.compile(r"^\| composed link image \| (\S+) \| [^|]+ \| ([0-9a-f]{64}) \|$")
_COMPOSED = re.compile(r"composed file has sha256 ([0-9a-f]{64})")


def golden_rows() -> tuple[list[Golden], str]:
    """The oracle rows and the composed image's sha256, parsed from the fixtures' document."""
    text = require_fixture("expected-neutralize.md").read_text(encoding="utf-8")
    rows: list[Golden] = []
    for line in text.splitlines():
        if match := _BARE_ROW.match(line.strip()):
            rows.append(Golden(match[1], match[2].strip(), int(match[3]), match[4]))
        elif match := _FULL_ROW.match(line.strip()):
            rows.append(Golden("composed link image", match[1], None, match[2]))
    composed = _COMPOSED.search(text)
    assert composed is not None
    return rows, composed[1]
