"""ISO images built by real tools (xorriso, genisoimage, pycdlib) for the IDER tests and bench."""

from __future__ import annotations

import hashlib
import io
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.support import require_tool


@dataclass(frozen=True, slots=True)
class BuiltIso:
    """An image and what its builder put in it."""

    path: Path
    volume_id: str
    boot_sha256: str | None
    """SHA-256 of the boot image file (None: not bootable)."""


def boot_image(size: int = 2048, seed: str = "mewarden") -> bytes:
    """Deterministic bytes standing in for a boot loader (an x86 boot sector signature too)."""
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(f"{seed}:{counter}".encode()).digest()
        counter += 1
    out = out[:size]
    out[510:512] = b"\x55\xaa"
    return bytes(out)


def _tree(root: Path, boot: bytes | None, payload_kib: int) -> Path:
    tree = root / "tree"
    (tree / "boot").mkdir(parents=True, exist_ok=True)
    (tree / "README.TXT").write_text("installer image for the mewarden IDER tests\n")
    (tree / "DATA.BIN").write_bytes(boot_image(payload_kib * 1024, seed="payload"))
    if boot is not None:
        (tree / "boot" / "boot.img").write_bytes(boot)
    return tree


def xorriso_iso(
    root: Path,
    volume_id: str,
    *,
    bootable: bool = True,
    payload_kib: int = 64,
    floppy: bool = False,
) -> BuiltIso:
    """``xorriso -as mkisofs``: a no-emulation (4 x 512 bytes) or 1.44 MB floppy El Torito CD."""
    xorriso = require_tool("xorriso")
    boot = boot_image(1_474_560 if floppy else 2048) if bootable else None
    tree = _tree(root, boot, payload_kib)
    out = root / f"{volume_id.lower()}.iso"
    args = [xorriso, "-as", "mkisofs", "-quiet", "-V", volume_id, "-o", str(out)]
    if bootable:
        args += ["-b", "boot/boot.img", "-c", "boot/boot.cat"]
        args += [] if floppy else ["-no-emul-boot", "-boot-load-size", "4"]
    subprocess.run([*args, str(tree)], check=True, capture_output=True, timeout=60)
    return BuiltIso(out, volume_id, hashlib.sha256(boot).hexdigest() if boot else None)


def genisoimage_iso(root: Path, volume_id: str, *, payload_kib: int = 64) -> BuiltIso:
    """``genisoimage`` (Debian's mkisofs): a no-emulation El Torito CD."""
    genisoimage = require_tool("genisoimage")
    boot = boot_image(2048, seed="genisoimage")
    tree = _tree(root, boot, payload_kib)
    out = root / f"{volume_id.lower()}.iso"
    args = [genisoimage, "-quiet", "-V", volume_id, "-o", str(out), "-b", "boot/boot.img"]
    args += ["-c", "boot/boot.cat", "-no-emul-boot", "-boot-load-size", "4", str(tree)]
    subprocess.run(args, check=True, capture_output=True, timeout=60)
    return BuiltIso(out, volume_id, hashlib.sha256(boot).hexdigest())


def pycdlib_iso(root: Path, volume_id: str) -> BuiltIso:
    """pycdlib: a no-emulation El Torito CD built in Python."""
    import pycdlib

    boot = boot_image(2048, seed="pycdlib")
    root.mkdir(parents=True, exist_ok=True)
    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=3, vol_ident=volume_id)
    iso.add_fp(io.BytesIO(boot), len(boot), "/BOOT.IMG;1")
    readme = b"installer image built by pycdlib\n"
    iso.add_fp(io.BytesIO(readme), len(readme), "/README.TXT;1")
    iso.add_eltorito("/BOOT.IMG;1", bootcatfile="/BOOT.CAT;1", boot_load_size=4)
    out = root / f"{volume_id.lower()}.iso"
    iso.write(str(out))
    iso.close()
    return BuiltIso(out, volume_id, hashlib.sha256(boot).hexdigest())
