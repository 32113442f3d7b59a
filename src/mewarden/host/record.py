"""``mewarden host record DIR``: capture what the probe reads, for bug reports and tests.

The tree mirrors the paths the probe reads (``sys/...``, ``dev/cpu/0/msr``, ``proc/cpuinfo``) and
adds ``mewarden-record.json``: the paths that were not readable (replayed as permission errors)
and the MEI exchanges (client UUID, connect outcome, request/response bytes in hex). Probing the
tree with ``--root DIR`` then runs the same code on the same data and reaches the same verdict.

Only what the probe needs is captured: PCI vendor/device/class of every function, config space of
HECI functions, the ``meiN`` attributes, MSR 0x13A, the identifying lines of the first CPU in
``/proc/cpuinfo``, and the MKHI/AMTHI answers of :mod:`~mewarden.host.queries` (which never asks
for the local system account, the one AMTHI command that returns a password).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from mewarden import fsutil
from mewarden.errors import BadInputError
from mewarden.host import sysfs
from mewarden.host.mei import (
    RecordedSession,
    RecordingTransport,
    TransportFactory,
    sessions_to_json,
)
from mewarden.host.msr import MSR_BOOT_GUARD_SACM_INFO
from mewarden.host.pci import is_heci
from mewarden.host.probe import default_transport_factory, heci_mei_device
from mewarden.host.queries import query_amt, query_fw_version
from mewarden.host.sysfs import HostTree

_MEI_ATTRIBUTES = ("fw_status", "fw_ver", "dev_state", "hbm_ver", "kind")
_CPUINFO_KEYS = ("vendor_id", "cpu family", "model", "model name", "stepping", "microcode")
_CONFIG_SIZE = 256


@dataclass(slots=True, kw_only=True)
class RecordSummary:
    """What ``host record`` wrote."""

    directory: str
    files: list[str] = field(default_factory=list)
    denied: list[str] = field(default_factory=list)
    mei_sessions: int = 0


class _Recorder:
    def __init__(self, source: HostTree, target: Path) -> None:
        self.source = source
        self.target = target
        self.summary = RecordSummary(directory=str(target))

    def write(self, relative: str, data: bytes) -> None:
        path = self.target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        fsutil.atomic_write_bytes(path, data)
        self.summary.files.append(relative)

    def copy(self, relative: str) -> None:
        try:
            data = self.source.path(relative).read_bytes()
        except PermissionError:
            self.summary.denied.append(relative)
            return
        except OSError:
            return  # absent attributes stay absent in the tree
        self.write(relative, data)

    def copy_range(self, relative: str, offset: int, size: int) -> None:
        try:
            data = self.source.pread(relative, offset, size)
        except PermissionError:
            self.summary.denied.append(relative)
            return
        except OSError:
            return
        self.write_at(relative, offset, data)

    def write_at(self, relative: str, offset: int, data: bytes) -> None:
        # zero-filled up to ``offset`` (a few hundred bytes at most: config space, MSR 0x13A)
        self.write(relative, bytes(offset) + data)


def record(
    source: HostTree, target: str | os.PathLike[str], transports: TransportFactory | None = None
) -> RecordSummary:
    """Record ``source`` (the live system or another tree) into the new directory ``target``."""
    target_path = _prepare_target(Path(target))
    recorder = _Recorder(source, target_path)
    _record_cpuinfo(recorder)
    _record_pci(recorder)
    _record_mei_class(recorder)
    recorder.copy_range(sysfs.MSR_DEVICE, MSR_BOOT_GUARD_SACM_INFO, 8)
    sessions = _record_mei_sessions(source, transports)
    recorder.summary.mei_sessions = len(sessions or [])
    manifest: dict[str, object] = {
        "format": sysfs.RECORD_FORMAT,
        "version": 1,
        "recorded_as_root": _as_root(source),
        "denied": sorted(set(recorder.summary.denied) | _still_denied(source)),
    }
    if sessions is not None:
        manifest["mei"] = sessions_to_json(sessions)
    text = json.dumps(manifest, indent=2) + "\n"
    fsutil.atomic_write_text(target_path / sysfs.RECORD_MANIFEST, text)
    return recorder.summary


def _prepare_target(target: Path) -> Path:
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise BadInputError(f"{target} exists and is not an empty directory")
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BadInputError(f"cannot create {target}: {exc.strerror}") from None
    return target


def _as_root(source: HostTree) -> bool | None:
    if source.is_live:
        return os.geteuid() == 0
    return source.manifest.recorded_as_root


def _still_denied(source: HostTree) -> set[str]:
    """Denied paths of a source tree that the recorder never tried (kept for fidelity)."""
    return set(source.manifest.denied)


def _record_cpuinfo(recorder: _Recorder) -> None:
    try:
        text = recorder.source.read_text(sysfs.CPUINFO)
    except OSError:
        return
    kept: list[str] = []
    for line in text.splitlines():
        if not line.strip():
            break  # the first CPU's block is enough
        if line.partition(":")[0].strip() in _CPUINFO_KEYS:
            kept.append(line)
    recorder.write(sysfs.CPUINFO, ("\n".join(kept) + "\n").encode("ascii", errors="replace"))


def _record_pci(recorder: _Recorder) -> None:
    functions, _problems = sysfs.list_pci_functions(recorder.source)
    for function in functions:
        base = f"{sysfs.PCI_DEVICES}/{function.address}"
        for attribute in ("vendor", "device", "class"):
            recorder.copy(f"{base}/{attribute}")
        if is_heci(function):
            recorder.copy_range(f"{base}/config", 0, _CONFIG_SIZE)


def _record_mei_class(recorder: _Recorder) -> None:
    try:
        names = recorder.source.listdir(sysfs.MEI_CLASS_DIR)
    except OSError:
        return
    for name in names:
        base = f"{sysfs.MEI_CLASS_DIR}/{name}"
        for attribute in _MEI_ATTRIBUTES:
            recorder.copy(f"{base}/{attribute}")
        parent = recorder.source.link_name(f"{base}/device")
        if parent is not None:
            link = recorder.target / base / "device"
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(f"../../../bus/pci/devices/{parent}")
            recorder.summary.files.append(f"{base}/device")


def _record_mei_sessions(
    source: HostTree, transports: TransportFactory | None
) -> list[RecordedSession] | None:
    factory = (
        transports
        if transports is not None
        else default_transport_factory(source, heci_mei_device(source))
    )
    if factory is None:
        return None
    sessions: list[RecordedSession] = []

    def recording() -> RecordingTransport:
        return RecordingTransport(factory(), sessions)

    query_fw_version(recording)
    query_amt(recording)
    return sessions
