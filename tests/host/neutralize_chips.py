"""Dummy flash chips holding the composed fixture images of ``expected-neutralize.md``.

flashrom's dummy programmer emulates a 16 MiB W25Q128FV; the 8 MiB link composition is padded
with 0xFF beyond the descriptor's flash size. ``ifdtool -u`` (coreboot's, an independent tool)
unlocks the master section where a test needs the host to write the ME region.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

from mewarden.firmware.neutralize import NeutralizeOptions, apply_neutralize, plan_neutralize
from mewarden.firmware.neutralize_layout import read_me_image
from tests.firmware.neutralize_helpers import compose, golden_rows
from tests.support import REPO_ROOT, require_tool

CHIP_SIZE = 16 << 20
TREES = REPO_ROOT / "tests" / "data" / "host" / "trees"
LINK = ("coreboot-blobs/google_link_descriptor.bin", "coreboot-blobs/google_link_me.bin")
DARP6 = ("system76-darp6/fd.rom", "system76-darp6/me.rom")


def spec(chip: Path) -> str:
    """The flashrom programmer for a dummy chip backed by ``chip``."""
    return f"dummy:emulate=W25Q128FV,image={chip}"


def unlock(image: bytes, workdir: Path) -> bytes:
    """``image`` with its master section unlocked by ``ifdtool -u``."""
    ifdtool = require_tool("ifdtool")
    source, target = workdir / "to-unlock.bin", workdir / "unlocked.bin"
    source.write_bytes(image)
    subprocess.run(
        [ifdtool, "-u", str(source), "-O", str(target)], capture_output=True, timeout=60, check=True
    )
    data = target.read_bytes()
    source.unlink()
    target.unlink()
    return data


def pad(image: bytes) -> bytes:
    """``image`` padded with 0xFF to the emulated chip's size."""
    return image + b"\xff" * (CHIP_SIZE - len(image))


def link_chip(tmp_path: Path, *, unlocked: bool = True, name: str = "chip.bin") -> Path:
    """A dummy chip with the composed link image (ME 8), unlocked unless told otherwise."""
    require_tool("flashrom")
    image = compose(*LINK)
    if unlocked:
        image = unlock(image, tmp_path)
    path = tmp_path / name
    path.write_bytes(pad(image))
    return path


def darp6_chip(tmp_path: Path) -> Path:
    """A dummy chip with System76's Darter Pro 6 descriptor and CSME 14 (IFWI) region."""
    require_tool("flashrom")
    path = tmp_path / "chip-darp6.bin"
    path.write_bytes(pad(compose(*DARP6)))
    return path


def golden_link(options: str, tmp_path: Path) -> bytes:
    """me_cleaner 1.2's output for ``options`` on the composed link image, as the chip holds it.

    The output is rebuilt and checked against the SHA-256 of ``expected-neutralize.md``; the
    chip's copy differs only in the master section ``ifdtool -u`` unlocked (me_cleaner does not
    touch FLMSTR, ifdtool touches nothing else).
    """
    rows, _ = golden_rows()
    [row] = [r for r in rows if r.input == "composed link image" and r.options == options]
    image = compose(*LINK)
    mode = {"-S": None, "-s": "disable-only"}[options]
    from mewarden.firmware.neutralize import Mode

    request = NeutralizeOptions(mode=Mode(mode) if mode else None)
    output = apply_neutralize(image, plan_neutralize(read_me_image(image), request))
    assert hashlib.sha256(output).hexdigest() == row.sha256
    return pad(unlock(output, tmp_path))


def run_cli(
    *args: str, prelude: str = "", timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``mewarden ARGS`` in a subprocess; ``prelude`` runs first (failure injection)."""
    code = prelude + "\nfrom mewarden.cli.main import main\nimport sys\nmain(sys.argv[1:])\n"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "src") + os.pathsep + str(REPO_ROOT)}
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=env,
    )
