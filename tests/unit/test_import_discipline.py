"""Cold start: ``firmware inspect`` and ``firmware neutralize`` load only what they use.

Each check runs in a fresh interpreter (the test process itself has imported everything): it
imports the CLI, resolves the command the way click does, optionally runs it on a file, and
reports which of the heavy stacks ended up in ``sys.modules``. Logging (structlog, asyncio),
rich, SQL, HTTP, XML and thread pools cost tens of milliseconds each at start-up and none of
them is needed to read a firmware image and print JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mewarden.firmware.synth import SynthSpec, build_image

HEAVY = (
    "structlog",
    "asyncio",
    "logging",
    "rich",
    "sqlalchemy",
    "alembic",
    "h11",
    "httpx",
    "lxml",
    "prometheus_client",
    "concurrent.futures",
    "tempfile",
    "mewarden.state",
    "mewarden.amt",
    "mewarden.emulate",
    "mewarden.heal",
)
"""Absent after resolving and running the firmware commands in ``--json`` mode."""

CHECK = r"""
import json, sys
from mewarden.cli.main import cli, main

setup, path = sys.argv[1], sys.argv[2:]
exec(setup)
import click
ctx = click.Context(cli)
firmware = cli.get_command(ctx, "firmware")
assert firmware is not None
for name in ("inspect", "neutralize"):
    assert firmware.get_command(ctx, name) is not None
if path:
    try:
        main(path)
    except SystemExit as exc:
        assert not exc.code, exc.code
import os
heavy = json.loads(os.environ["HEAVY"])
loaded = sorted(m for m in heavy if m in sys.modules)
print(json.dumps(loaded), file=sys.stderr)
"""


def heavy_modules_loaded(*argv: str, setup: str = "") -> list[str]:
    """The heavy modules a fresh interpreter holds after resolving (and running) a command."""
    proc = subprocess.run(
        [sys.executable, "-c", CHECK, setup, *argv],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "HEAVY": json.dumps(HEAVY)},
    )
    assert proc.returncode == 0, proc.stderr
    loaded: list[str] = json.loads(proc.stderr.strip().splitlines()[-1])
    return loaded


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cold") / "synth.bin"
    path.write_bytes(build_image(SynthSpec()))
    return path


def test_resolving_the_firmware_commands_loads_nothing_heavy() -> None:
    assert heavy_modules_loaded() == []


def test_resolving_loads_neither_firmware_parsers_nor_cryptography() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, click; from mewarden.cli.main import cli; ctx = click.Context(cli); "
            "cli.get_command(ctx, 'firmware').get_command(ctx, 'inspect'); "
            "print(sorted(m for m in ('cryptography', 'mewarden.firmware.inspect', "
            "'lzma') if m in sys.modules))",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert proc.stdout.strip() == "[]"


def test_inspect_json_runs_without_heavy_modules(image: Path) -> None:
    assert heavy_modules_loaded("firmware", "inspect", "--json", str(image)) == []


def test_inspect_of_several_images_runs_without_heavy_modules(image: Path) -> None:
    argv = ("firmware", "inspect", "--json-lines", str(image), str(image.parent))
    assert heavy_modules_loaded(*argv) == []


def test_neutralize_json_runs_without_heavy_modules(image: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.bin"
    argv = ("firmware", "neutralize", "--json", str(image), "-o", str(out))
    loaded = heavy_modules_loaded(*argv)
    assert loaded == []  # not even tempfile: the atomic write creates its file with os.open
    assert out.stat().st_size == image.stat().st_size


def test_the_check_sees_a_heavy_import_added_back(image: Path) -> None:
    """What the CLI used to do on every command: set up structlog before dispatching."""
    eager_logging = "from mewarden.log import get_logger; get_logger('cli')"
    argv = ("firmware", "inspect", "--json", str(image))
    loaded = heavy_modules_loaded(*argv, setup=eager_logging)
    assert {"structlog", "asyncio", "logging"} <= set(loaded)
    eager_rich = "import mewarden.cli.output as o; o.console()"
    assert "rich" in heavy_modules_loaded(*argv, setup=eager_rich)
