"""The lean path of ``firmware inspect`` / ``firmware neutralize`` (no click, rich, typing or
cryptography) parses exactly what the click commands take, prints the same bytes, writes the
same files, fails with the same line and code, and leaves everything else to click."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest

from mewarden.cli import firmware_lean
from mewarden.cli.main import cli
from mewarden.firmware.synth import SynthSpec, build_image
from tests.support import require_fixture

LEAN = "from mewarden.cli.entry import main; import sys; main(sys.argv[1:])"
CLICK = "from mewarden.cli.main import main; import sys; main(sys.argv[1:])"
REPORT = (
    "import json, os, sys; heavy = json.loads(os.environ['HEAVY']); "
    "print(json.dumps(sorted(m for m in heavy if m in sys.modules)), file=sys.stderr)"
)
LEAN_HEAVY = ("click", "rich", "typing", "cryptography", "lzma", "logging", "asyncio", "tempfile")


def _run(entry: str, *argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", entry, *argv], capture_output=True, text=True, cwd=cwd,
        timeout=60, check=False, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )  # fmt: skip


def _params(name: str) -> dict[str, tuple[str, str]]:
    """Option string -> (parameter, kind) of the click command ``firmware NAME``."""
    ctx = click.Context(cli)
    group = cli.get_command(ctx, "firmware")
    assert isinstance(group, click.Group)
    command = group.get_command(ctx, name)
    assert command is not None
    found: dict[str, tuple[str, str]] = {}
    for param in command.params:
        if not isinstance(param, click.Option) or param.name is None:
            continue
        kind = "flag" if param.is_flag else param.type.name
        for opt in param.opts:
            found[opt] = (param.name, kind)
    return found


@pytest.mark.parametrize(
    ("name", "spec"),
    [("inspect", firmware_lean.INSPECT_OPTIONS), ("neutralize", firmware_lean.NEUTRALIZE_OPTIONS)],
)
def test_the_lean_parser_takes_exactly_the_click_options(
    name: str, spec: dict[str, tuple[str, object]]
) -> None:
    click_side = _params(name)
    assert set(spec) == set(click_side) - {"--help", "-h"}
    for opt, (dest, kind) in spec.items():
        click_dest, click_kind = click_side[opt]
        assert dest == click_dest, opt
        assert (kind == firmware_lean.FLAG) == (click_kind == "flag"), opt


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("lean")
    synth = root / "synth.bin"
    synth.write_bytes(build_image(SynthSpec()))
    link = require_fixture("coreboot-blobs/google_link_me.bin")
    return {"synth": synth, "link": link}


INSPECT_LINES = [
    ["firmware", "inspect", "{synth}"],
    ["firmware", "inspect", "--json", "{link}"],
    ["firmware", "inspect", "{link}", "--verify-modules", "-j", "2"],
    ["firmware", "inspect", "--jobs=1", "--", "{synth}"],
    ["firmware", "inspect", "{missing}"],
    ["firmware", "inspect", "{not_an_image}"],
    ["firmware", "inspect", "--json-lines", "{synth}", "{link}"],
    ["firmware", "inspect", "{folder}", "--json-lines", "-j", "1"],
    ["firmware", "inspect", "--json-lines", "{folder}", "{missing}", "--verify-modules"],
]
NEUTRALIZE_LINES = [
    ["firmware", "neutralize", "{link}", "-o", "{out}", "--relocate", "--truncate"],
    ["firmware", "neutralize", "--json", "{synth}", "--output={out}", "--mode", "disable-only"],
    ["firmware", "neutralize", "{synth}", "-o{out}", "--keep-partitions", "MFS"],
    ["firmware", "neutralize", "{link}", "-o", "{out}", "--keep-partitions", "A,,B"],
    ["firmware", "neutralize", "{link}", "-o", "{link}"],
]


def _fill(line: list[str], images: dict[str, Path], where: Path) -> list[str]:
    junk = where / "junk.bin"
    junk.write_bytes(b"\x00" * 4096)
    names = {k: str(v) for k, v in images.items()}
    names.update(
        missing=str(where / "missing.bin"), not_an_image=str(junk), out=str(where / "out.bin")
    )
    names["folder"] = str(images["synth"].parent)
    return [word.format(**names) for word in line]


@pytest.mark.parametrize(
    "line", INSPECT_LINES + NEUTRALIZE_LINES, ids=lambda words: " ".join(words[1:4])
)
def test_lean_and_click_paths_print_and_write_the_same(
    line: list[str], images: dict[str, Path], tmp_path: Path
) -> None:
    results = []
    for entry in (LEAN, CLICK):
        where = tmp_path / ("lean" if entry is LEAN else "click")
        where.mkdir()
        proc = _run(entry, *_fill(line, images, where), cwd=where)
        out = where / "out.bin"
        written = out.read_bytes() if out.exists() else None
        results.append((proc.returncode, proc.stdout.replace(str(where), "W"),
                        proc.stderr.replace(str(where), "W"), written))  # fmt: skip
    assert results[0] == results[1]
    assert "Traceback" not in results[0][2]


@pytest.mark.parametrize(
    "argv",
    [
        ["firmware", "inspect", "--help"],
        ["firmware", "inspect", "--bogus", "x.bin"],
        ["firmware", "inspect"],
        ["firmware", "neutralize", "x.bin"],
        ["firmware", "neutralize", "x.bin", "-o", "y.bin", "--mode", "nonsense"],
        ["firmware", "inspect", "-j", "0", "x.bin"],
        ["firmware", "inspect", "--json=yes", "x.bin"],
    ],
)
def test_what_the_lean_parser_does_not_take_goes_to_click(argv: list[str], tmp_path: Path) -> None:
    assert firmware_lean.run_lean(argv[1], argv[2:]) is None
    proc = _run(LEAN, *argv, cwd=tmp_path)
    said = proc.stdout + proc.stderr
    assert "Usage: mewarden firmware" in said or "Error: Option" in said
    assert proc.returncode in {0, 2}


def test_summary_tables_of_collections_go_to_click(images: dict[str, Path]) -> None:
    assert firmware_lean.run_lean("inspect", [str(images["synth"].parent)]) is None
    assert firmware_lean.run_lean("inspect", [str(images["synth"]), str(images["link"])]) is None
    both = ["--json", "--json-lines", str(images["synth"])]
    assert firmware_lean.run_lean("inspect", both) is None  # click's usage error


def _loaded(
    argv: list[str], cwd: Path, watched: tuple[str, ...] = LEAN_HEAVY, setup: str = ""
) -> list[str]:
    """Which of ``watched`` a fresh interpreter holds after running the console script's entry
    on ``argv`` (``setup`` runs first)."""
    guarded = f"try:\n    {LEAN}\nexcept SystemExit as exc:\n    assert not exc.code, exc\n"
    code = f"{setup}\n{guarded}{REPORT}"
    proc = subprocess.run(
        [sys.executable, "-c", code, *argv], capture_output=True, text=True, cwd=cwd,
        timeout=60, check=False, env={**os.environ, "HEAVY": json.dumps(watched)},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    loaded: list[str] = json.loads(proc.stderr.strip().splitlines()[-1])
    return loaded


def test_the_console_script_path_loads_none_of_the_heavy_modules(
    images: dict[str, Path], tmp_path: Path
) -> None:
    assert _loaded(["firmware", "inspect", str(images["link"])], tmp_path) == []
    assert _loaded(["firmware", "inspect", "--json", str(images["synth"])], tmp_path) == []
    out = str(tmp_path / "o.bin")
    argv = ["firmware", "neutralize", str(images["link"]), "-o", out, "--relocate", "--truncate"]
    assert _loaded(argv, tmp_path) == []  # an ME 8 region: no LZMA module to decode


def test_the_check_sees_click_or_cryptography_added_back(
    images: dict[str, Path], tmp_path: Path
) -> None:
    argv = ["firmware", "inspect", "--json", str(images["link"])]
    assert "click" in _loaded(argv, tmp_path, setup="import mewarden.cli.main")
    eager_crypto = "import cryptography.hazmat.primitives.asymmetric.rsa"
    assert {"cryptography", "typing"} <= set(_loaded(argv, tmp_path, setup=eager_crypto))


PARSERS = (
    "mewarden.firmware.descriptor",
    "mewarden.firmware.straps",
    "mewarden.firmware.fit",
    "mewarden.firmware.me.ifwi",
    "mewarden.firmware.me.verify",
    "mewarden.firmware.me.cse_meta",
    "mewarden.firmware.neutralize_gen3",
    "zlib",
)


def test_a_bare_me_region_loads_only_the_parsers_it_needs(
    images: dict[str, Path], tmp_path: Path
) -> None:
    """An ME 8 region has no descriptor, FIT, IFWI or CPD: inspecting it loads none of those
    parsers, nor the module-hash checker, which --verify-modules does load."""
    link = str(images["link"])
    assert _loaded(["firmware", "inspect", link], tmp_path, PARSERS) == []
    verified = _loaded(["firmware", "inspect", "--verify-modules", link], tmp_path, PARSERS)
    assert "mewarden.firmware.me.verify" in verified
    out = str(tmp_path / "o.bin")
    argv = ["firmware", "neutralize", link, "-o", out, "--relocate", "--truncate"]
    assert _loaded(argv, tmp_path, PARSERS) == []


OPENSSL = ("_hashlib", "hashlib")


def test_openssl_is_loaded_only_for_a_whole_image_digest(
    images: dict[str, Path], tmp_path: Path
) -> None:
    """Key ids and manifest signatures hash a few KiB with CPython's own SHA-256; OpenSSL
    (3-4 ms to load) comes in only where a whole image is hashed: the JSON neutralize report."""
    link, out = str(images["link"]), str(tmp_path / "o.bin")
    assert _loaded(["firmware", "inspect", link], tmp_path, OPENSSL) == []
    assert _loaded(["firmware", "inspect", "--json", link], tmp_path, OPENSSL) == []
    neutralize = ["firmware", "neutralize", link, "-o", out, "--relocate", "--truncate"]
    assert _loaded(neutralize, tmp_path, OPENSSL) == []
    assert set(_loaded([*neutralize, "--json"], tmp_path, OPENSSL)) == set(OPENSSL)
