"""File writes that never leave a half-written file behind.

Every file mewarden produces (neutralized images, rulesets, key files, recorded trees) goes
through :func:`atomic_write_bytes`: the data is written to a temporary file in the destination
directory, flushed and fsynced, then renamed over the destination, and the directory is fsynced
so the rename survives a crash. A kill at any point leaves either the old file or the new one.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from mewarden.errors import BadInputError


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, *, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` atomically with permissions ``mode``."""
    target = Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    if not directory.is_dir():
        raise BadInputError(f"cannot write {target}: directory {directory} does not exist")
    import tempfile  # not on the read-only paths (inspect), where its imports would show

    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    _fsync_directory(directory)


def atomic_write_text(path: str | os.PathLike[str], text: str, *, mode: int = 0o644) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"), mode=mode)


def read_input_file(path: str | os.PathLike[str], *, what: str = "file") -> bytes:
    """Read a user-named file, turning OS errors into one-line :class:`BadInputError`."""
    target = Path(path)
    try:
        return target.read_bytes()
    except FileNotFoundError:
        raise BadInputError(f"{what} {target} does not exist") from None
    except IsADirectoryError:
        raise BadInputError(f"{what} {target} is a directory, not a file") from None
    except PermissionError:
        raise BadInputError(f"{what} {target} is not readable (permission denied)") from None
    except OSError as exc:
        raise BadInputError(f"cannot read {what} {target}: {exc.strerror}") from None


def _fsync_directory(directory: Path) -> None:
    try:
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass  # some filesystems refuse fsync on directories; the rename is still atomic
    finally:
        os.close(dir_fd)
