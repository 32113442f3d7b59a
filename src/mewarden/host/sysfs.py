"""Reading ``/sys``, ``/dev`` and ``/proc`` below a root directory: the live system or a tree.

Every read goes through :class:`HostTree`, rooted at ``/`` for the live system or at a recorded
tree (``mewarden host record``). A tree may hold ``mewarden-record.json``: paths that were not
readable when it was recorded (replayed as permission errors, so a non-root recording probes the
same as the non-root run did) and the MEI exchanges to replay.

Readers never raise for what the host lacks: each returns a value or a one-line problem, which the
probe reports as evidence. Kernel facts (reference A1): sysfs PCI ``config`` gives only 64 bytes to
a process without CAP_SYS_ADMIN and a read past that returns 0 bytes, which means "need root",
never "zero"; ``fw_status`` and ``fw_ver`` are world-readable.
"""

from __future__ import annotations

import errno
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from mewarden.errors import HostDataError
from mewarden.host.hfsts import HFSTS_OFFSETS
from mewarden.host.mei import RecordedSession, sessions_from_json
from mewarden.host.pci import PciFunction

RECORD_MANIFEST = "mewarden-record.json"
RECORD_FORMAT = "mewarden-host-record"
PCI_DEVICES = "sys/bus/pci/devices"
MEI_CLASS_DIR = "sys/class/mei"
MSR_DEVICE = "dev/cpu/0/msr"
CPUINFO = "proc/cpuinfo"
_UNPRIVILEGED_CONFIG_BYTES = 64


@dataclass(frozen=True, slots=True, kw_only=True)
class Manifest:
    """The contents of ``mewarden-record.json`` (empty for the live system)."""

    denied: frozenset[str] = frozenset()
    mei: tuple[RecordedSession, ...] | None = None
    recorded_as_root: bool | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class HostTree:
    """A root directory holding ``sys/``, ``dev/`` and ``proc/`` (``/`` for the live system)."""

    root: Path
    manifest: Manifest = field(default_factory=Manifest)

    @property
    def is_live(self) -> bool:
        """True when this is the running system rather than a recorded tree."""
        return self.root == Path("/")

    def path(self, relative: str) -> Path:
        """The absolute path of ``relative`` inside the tree."""
        if relative in self.manifest.denied:
            raise PermissionError(errno.EACCES, "Permission denied (recorded)", relative)
        return self.root / relative

    def read_text(self, relative: str) -> str:
        """Read a text attribute (raises ``OSError``)."""
        return self.path(relative).read_bytes().decode("ascii", errors="replace")

    def pread(self, relative: str, offset: int, size: int) -> bytes:
        """Read ``size`` bytes at ``offset``; may return fewer (a short read)."""
        fd = os.open(self.path(relative), os.O_RDONLY | os.O_CLOEXEC)
        try:
            return os.pread(fd, size, offset)
        finally:
            os.close(fd)

    def listdir(self, relative: str) -> list[str]:
        """Sorted entries of a directory (raises ``OSError``)."""
        return sorted(os.listdir(self.path(relative)))

    def link_name(self, relative: str) -> str | None:
        """The last component of a symlink's target, or ``None`` when it is not a link."""
        try:
            return os.path.basename(os.readlink(self.path(relative)))
        except OSError:
            return None

    def exists(self, relative: str) -> bool:
        """True when ``relative`` exists and is not recorded as denied."""
        return relative not in self.manifest.denied and (self.root / relative).exists()


def open_tree(root: str | os.PathLike[str]) -> HostTree:
    """A :class:`HostTree` at ``root``, loading its record manifest when present."""
    base = Path(root)
    if not base.is_dir():
        raise HostDataError(f"host tree {base} is not a directory")
    manifest_path = base / RECORD_MANIFEST
    if not manifest_path.is_file():
        return HostTree(root=base)
    try:
        data = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HostDataError(f"{manifest_path} is not readable JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != RECORD_FORMAT:
        raise HostDataError(f"{manifest_path} is not a mewarden host record")
    denied = data.get("denied", [])
    if not isinstance(denied, list) or not all(isinstance(p, str) for p in denied):
        raise HostDataError(f"{manifest_path}: 'denied' must be a list of paths")
    mei = data.get("mei")
    sessions = tuple(sessions_from_json(mei)) if mei is not None else None
    as_root = data.get("recorded_as_root")
    return HostTree(
        root=base,
        manifest=Manifest(
            denied=frozenset(denied),
            mei=sessions,
            recorded_as_root=as_root if isinstance(as_root, bool) else None,
        ),
    )


def describe_os_error(what: str, exc: OSError) -> str:
    """One line for a failed read: permission, absence, or the errno text."""
    if isinstance(exc, PermissionError):
        return f"{what}: permission denied (run as root)"
    if isinstance(exc, FileNotFoundError):
        return f"{what}: not present"
    name = errno.errorcode.get(exc.errno or 0, "error")
    return f"{what}: {exc.strerror or name} ({name})"


def _read_hex_attr(tree: HostTree, relative: str) -> int:
    text = tree.read_text(relative).strip()
    try:
        return int(text, 16)
    except ValueError:
        raise HostDataError(f"{relative} is not a hex number: {text[:16]!r}") from None


def list_pci_functions(tree: HostTree) -> tuple[tuple[PciFunction, ...], tuple[str, ...]]:
    """Every PCI function with readable vendor/device/class, and problems met on the way."""
    try:
        names = tree.listdir(PCI_DEVICES)
    except OSError as exc:
        return (), (describe_os_error(f"/{PCI_DEVICES}", exc),)
    functions: list[PciFunction] = []
    problems: list[str] = []
    for name in names:
        base = f"{PCI_DEVICES}/{name}"
        try:
            functions.append(
                PciFunction(
                    address=name,
                    vendor=_read_hex_attr(tree, f"{base}/vendor"),
                    device=_read_hex_attr(tree, f"{base}/device"),
                    pci_class=_read_hex_attr(tree, f"{base}/class"),
                )
            )
        except OSError as exc:
            problems.append(describe_os_error(f"/{base}", exc))
        except HostDataError as exc:
            problems.append(str(exc))
    return tuple(functions), tuple(problems)


def find_mei_device(tree: HostTree, pci_address: str) -> str | None:
    """The ``meiN`` whose parent is ``pci_address``, or ``None`` when the driver is not bound."""
    try:
        names = tree.listdir(MEI_CLASS_DIR)
    except OSError:
        return None
    for name in names:
        if tree.link_name(f"{MEI_CLASS_DIR}/{name}/device") == pci_address:
            return name
    return None


def read_config_hfsts(tree: HostTree, pci_address: str) -> tuple[tuple[int, ...] | None, str]:
    """HFSTS1..6 from PCI config space; ``(None, problem)`` when not readable."""
    relative = f"{PCI_DEVICES}/{pci_address}/config"
    values: list[int] = []
    try:
        for offset in HFSTS_OFFSETS:
            data = tree.pread(relative, offset, 4)
            if len(data) < 4:
                if offset >= _UNPRIVILEGED_CONFIG_BYTES and not values:
                    return None, (
                        f"/{relative}: short read at {offset:#x} (only the first 64 bytes are "
                        "visible without root; run as root)"
                    )
                break
            values.append(int.from_bytes(data, "little"))
    except OSError as exc:
        return None, describe_os_error(f"/{relative}", exc)
    if not values:
        return None, f"/{relative}: no HFSTS registers readable"
    return tuple(values), ""


def read_msr(tree: HostTree, register: int) -> tuple[int | None, str]:
    """A 64-bit MSR of CPU 0 via ``/dev/cpu/0/msr``; ``(None, problem)`` when unreadable."""
    try:
        data = tree.pread(MSR_DEVICE, register, 8)
    except FileNotFoundError:
        return None, f"/{MSR_DEVICE}: not present (modprobe msr; needs root)"
    except OSError as exc:
        if exc.errno == errno.EIO:
            return None, f"/{MSR_DEVICE}: MSR {register:#x} not implemented by this CPU (EIO)"
        return None, describe_os_error(f"/{MSR_DEVICE}", exc)
    if len(data) < 8:
        return None, f"/{MSR_DEVICE}: short read of MSR {register:#x}"
    return int.from_bytes(data, "little"), ""


def read_cpu_vendor(tree: HostTree) -> str | None:
    """``vendor_id`` of the first CPU in ``/proc/cpuinfo`` (``GenuineIntel``, ...)."""
    try:
        text = tree.read_text(CPUINFO)
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "vendor_id":
            return value.strip()
    return None
