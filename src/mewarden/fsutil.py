"""File writes that never leave a half-written file behind.

Every file mewarden produces (neutralized images, rulesets, key files, recorded trees) goes
through :func:`atomic_write_bytes`: the data is written to a temporary file in the destination
directory, flushed and fsynced, then renamed over the destination, and the directory is fsynced
so the rename survives a crash. A kill at any point leaves either the old file or the new one.
"""

from __future__ import annotations

import os

from mewarden.errors import BadInputError

# os.path rather than pathlib: the firmware commands read and write through this module, and
# pathlib's imports (re, urllib.parse, ipaddress) cost them milliseconds at every start.


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, *, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` atomically with permissions ``mode``."""
    target = shown_path(path)
    directory = os.path.dirname(target) or "."
    if not os.path.isdir(directory):
        raise BadInputError(f"cannot write {target}: directory {directory} does not exist")
    fd, tmp_name = _create_temporary(directory, os.path.basename(target))
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        try:  # noqa: SIM105 (contextlib would be the firmware commands' only reason to load it)
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise
    _fsync_directory(directory)


_TEMPORARY_ATTEMPTS = 100


def _create_temporary(directory: str, name: str) -> tuple[int, str]:
    """A new, exclusively created, owner-only file beside the target: what ``mkstemp`` does
    (O_CREAT | O_EXCL, random name, mode 0600), without importing tempfile, whose imports
    (shutil, random, re, bz2, lzma) cost the firmware commands more than their own work."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for _ in range(_TEMPORARY_ATTEMPTS):
        candidate = os.path.join(directory, f".{name}.{os.urandom(6).hex()}.tmp")
        try:
            return os.open(candidate, flags, 0o600), candidate
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {name} in {directory}")


def atomic_write_text(path: str | os.PathLike[str], text: str, *, mode: int = 0o644) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"), mode=mode)


def read_input_file(path: str | os.PathLike[str], *, what: str = "file") -> bytes:
    """Read a user-named file, turning OS errors into one-line :class:`BadInputError`."""
    target = shown_path(path)
    try:
        with open(target, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        raise BadInputError(f"{what} {target} does not exist") from None
    except IsADirectoryError:
        raise BadInputError(f"{what} {target} is a directory, not a file") from None
    except PermissionError:
        raise BadInputError(f"{what} {target} is not readable (permission denied)") from None
    except OSError as exc:
        raise BadInputError(f"cannot read {what} {target}: {exc.strerror}") from None


def shown_path(path: str | os.PathLike[str]) -> str:
    """``path`` as pathlib prints it (``./a//b/`` as ``a/b``), for messages and file names."""
    text = os.fspath(path)
    parts = [part for part in text.split("/") if part not in ("", ".")]
    if text.startswith("/"):
        root = "//" if text.startswith("//") and not text.startswith("///") else "/"
        return root + "/".join(parts)
    return "/".join(parts) or "."


def _fsync_directory(directory: str) -> None:
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
