"""The image file IDER serves: opened read-only, read by sector, checked before serving.

A thin file shell around the pure modules: :func:`open_medium` turns every OS error into a
one-line :class:`~mewarden.errors.BadInputError`; :func:`check_cd` reads the image as a BIOS
would (:func:`mewarden.ider.iso.find_bootable`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from mewarden.errors import BadInputError
from mewarden.ider.iso import SECTOR, BootableCd, IsoError, descriptor_type, find_bootable

FLOPPY_SECTOR = 512


@dataclass(slots=True)
class Medium:
    """A read-only image: ``read(lba, count)`` returns whole sectors (zero-padded at the end)."""

    path: Path
    fd: int
    size: int
    sector_size: int

    @property
    def sectors(self) -> int:
        return -(-self.size // self.sector_size)

    def read(self, lba: int, count: int) -> bytes:
        """``count`` sectors from ``lba`` (the caller checks the range against ``sectors``)."""
        length = count * self.sector_size
        data = os.pread(self.fd, length, lba * self.sector_size)
        return data if len(data) == length else data + bytes(length - len(data))

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> Medium:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def open_medium(path: str | os.PathLike[str], *, floppy: bool = False) -> Medium:
    """Open ``path`` read-only as a CD (2048-byte sectors) or floppy (512); one-line errors."""
    target = Path(path)
    what = "floppy image" if floppy else "image"
    try:
        fd = os.open(target, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise BadInputError(f"{what} {target} does not exist") from None
    except PermissionError:
        raise BadInputError(f"{what} {target} is not readable (permission denied)") from None
    except OSError as exc:
        raise BadInputError(f"cannot open {what} {target}: {exc.strerror}") from None
    try:
        size = os.fstat(fd).st_size
        if os.path.isdir(target):
            raise BadInputError(f"{what} {target} is a directory, not a file")
        if size == 0:
            raise BadInputError(f"{what} {target} is empty")
    except BaseException:
        os.close(fd)
        raise
    return Medium(target, fd, size, FLOPPY_SECTOR if floppy else SECTOR)


def check_iso9660(medium: Medium) -> None:
    """IsoError unless the image starts with an ISO 9660 volume descriptor at sector 16."""
    if medium.sectors <= 16:
        raise IsoError(f"{medium.path} is not an ISO 9660 image (too small: {medium.size} bytes)")
    try:
        descriptor_type(medium.read(16, 1), 16)
    except IsoError:
        raise IsoError(f"{medium.path} is not an ISO 9660 image (no CD001 at sector 16)") from None


def check_cd(medium: Medium) -> BootableCd:
    """Read the image as a BIOS would; IsoError (one line, naming the file) when it fails."""
    check_iso9660(medium)
    try:
        return find_bootable(medium.read, medium.sectors)
    except IsoError as exc:
        raise IsoError(f"{medium.path}: {exc}") from None
