"""A thin shell around the real ``flashrom``: region reads and safe, verified region writes.

Facts (``../shared/reference/live-me-and-network.md`` §A6): ``flashrom -p PROG --ifd -i
REGION:FILE -r FULL`` reads one region using the descriptor on the chip; ``-w FULL`` with
``-i REGION:FILE`` writes only that region (flashrom 1.3 wants a file after ``-w`` even then);
``--noverify-all`` limits flashrom's own verification to the included regions, which Intel
systems with a locked ME region need. The PCH enforces the descriptor's FLMSTR1 (host) access
bits, so a host-side write of a region FLMSTR1 does not grant fails part-way: mewarden refuses
it up front, with the reason.

A write never loses the old contents: they are saved (atomically, mode 0600) to a backup file
before anything is written; the region is read back and compared after the write. Only
programmers that sit behind the PCH (``internal``, and ``dummy`` standing in for it in tests)
are subject to the FLMSTR1 check; external SPI programmers talk to the chip directly.
"""

from __future__ import annotations

import enum
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from mewarden.errors import BadInputError, ExternalToolError, FirmwareFormatError, RefusedError
from mewarden.firmware.descriptor import Descriptor, Region, parse_descriptor
from mewarden.fsutil import atomic_write_bytes
from mewarden.record import Record

DEFAULT_TIMEOUT = 900.0
"""Seconds one flashrom run may take (a 32 MiB chip over a slow external programmer)."""

EXTERNAL_PROGRAMMERS = frozenset(
    {
        "ch341a_spi",
        "ch347_spi",
        "serprog",
        "ft2232_spi",
        "linux_spi",
        "buspirate_spi",
        "dediprog",
        "pickit2_spi",
        "raiden_debug_spi",
        "usbblaster_spi",
        "jlink_spi",
        "digilent_spi",
        "stlinkv3_spi",
        "dirtyjtag_spi",
    }
)
"""flashrom programmers that reach the SPI chip directly, not through the PCH."""


class FlashRegion(enum.StrEnum):
    """Regions flashrom can address with ``--ifd -i`` (its names)."""

    FD = "fd"
    BIOS = "bios"
    ME = "me"
    GBE = "gbe"


class WriteReport(Record):
    """What a write did. ``region`` None means the whole chip; ``backup_scope`` says whether the
    backup holds the whole chip (``chip``), only the region (``region``), or nothing (``none``,
    when nothing needed writing)."""

    programmer: str
    region: FlashRegion | None
    start: int
    end: int
    changed: bool
    backup: Path | None
    backup_scope: str
    verified: bool
    lock_check: str


def programmer_name(spec: str) -> str:
    """The programmer name of a flashrom ``-p`` spec (``dummy:emulate=...`` -> ``dummy``)."""
    name = spec.split(":", 1)[0].strip()
    if not name or any(c.isspace() for c in spec):
        raise BadInputError(f"invalid flashrom programmer {spec!r}")
    return name


def read_argv(binary: str, spec: str, workdir: Path, regions: tuple[FlashRegion, ...]) -> list[str]:
    """argv reading ``regions`` (each into ``workdir/<region>.bin``), or the whole chip."""
    argv = [binary, "-p", spec]
    if regions:
        argv.append("--ifd")
        for region in regions:
            argv += ["-i", f"{region.value}:{workdir / (region.value + '.bin')}"]
    return [*argv, "-r", str(workdir / "chip.bin")]


def write_argv(binary: str, spec: str, region: FlashRegion, source: Path, chip: Path) -> list[str]:
    """argv writing only ``region`` from ``source`` (``chip`` satisfies ``-w``'s argument)."""
    return [
        binary,
        "-p",
        spec,
        "--ifd",
        "-i",
        f"{region.value}:{source}",
        "--noverify-all",
        "-w",
        str(chip),
    ]


def _find_flashrom() -> str:
    path = shutil.which("flashrom") or shutil.which("flashrom", path="/usr/sbin:/sbin")
    if path is None:
        raise ExternalToolError("flashrom is not installed (Debian package 'flashrom')")
    return path


_TELLING = ("error", "fail", "invalid", "unknown", "not ", "couldn't", "cannot", "denied")


def _diagnosis(output: str) -> str:
    """The first and last lines of flashrom's output that say what went wrong, on one line."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    banner = ("flashrom ", "flashrom is free software")  # version line: "flashrom unknown on ..."
    telling = [
        line
        for line in lines
        if any(word in line.lower() for word in _TELLING) and not line.startswith(banner)
    ]
    if not telling:
        return lines[-1] if lines else "no output"
    return "; ".join(dict.fromkeys((telling[0], telling[-1])))


def _run(argv: list[str], what: str, timeout: float) -> None:
    try:
        result = subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout, check=False, stdin=None
        )
    except subprocess.TimeoutExpired:
        raise ExternalToolError(f"flashrom did not finish {what} within {timeout:.0f} s") from None
    except OSError as exc:
        raise ExternalToolError(f"cannot run flashrom: {exc.strerror}") from None
    if result.returncode != 0:
        detail = _diagnosis(result.stdout + "\n" + result.stderr)
        raise ExternalToolError(f"flashrom failed {what} (exit {result.returncode}): {detail}")


def _read(
    spec: str, regions: tuple[FlashRegion, ...], workdir: Path, timeout: float
) -> dict[str, bytes]:
    """Read ``regions`` (or the whole chip) into a fresh directory under ``workdir``."""
    outdir = Path(tempfile.mkdtemp(dir=workdir))
    argv = read_argv(_find_flashrom(), spec, outdir, regions)
    _run(argv, "reading " + (", ".join(r.value for r in regions) or "the chip"), timeout)
    names = [r.value for r in regions]
    return {name: (outdir / f"{name}.bin").read_bytes() for name in (*names, "chip")}


def read_flash(
    programmer: str, *, region: FlashRegion | None = None, timeout: float = DEFAULT_TIMEOUT
) -> bytes:
    """Read one region (located by the descriptor on the chip) or, with None, the whole chip."""
    programmer_name(programmer)
    with tempfile.TemporaryDirectory(prefix="mewarden-flashrom-") as tmp:
        regions = (region,) if region is not None else ()
        return _read(programmer, regions, Path(tmp), timeout)[region.value if region else "chip"]


def region_from_image(image: bytes, region: FlashRegion) -> bytes:
    """The bytes to write into ``region``: ``image`` itself, or its slice when it is a full image.

    A file that starts with a flash descriptor and covers the region (a full SPI image, or a
    bare descriptor for ``fd``) gives the region's slice by its own descriptor; anything else
    (a bare ME region, a BIOS region file) is taken as the region's contents.
    """
    try:
        descriptor = parse_descriptor(image)
    except FirmwareFormatError:
        return image
    target = descriptor.region(region.value)
    if target is None or not target.used or len(image) < target.end:
        return image
    return image[target.start : target.end]


def host_write_refusal(descriptor: Descriptor, region: FlashRegion) -> str | None:
    """Why the host (FLMSTR1) cannot write ``region``, or None when it can."""
    host = descriptor.master("bios")
    if host is None:
        return "the descriptor on the flash has no FLMSTR1 (host) entry"
    if region.value in host.write:
        return None
    granted = ", ".join(host.write) or "nothing"
    return (
        f"the descriptor on the flash locks the {region.value} region against host writes "
        f"(FLMSTR1 = {host.raw:#010x} grants write to: {granted}); flashrom through the PCH "
        "would fail part-way. Use an external SPI programmer, or make the region writable "
        "first (Flash Descriptor Override strap, or ME HMRFPO)"
    )


def _host_bound(spec: str) -> bool:
    return programmer_name(spec) not in EXTERNAL_PROGRAMMERS


def _host_reads_everything(descriptor: Descriptor) -> bool:
    host = descriptor.master("bios")
    used = {r.name for r in descriptor.regions if r.used}
    return host is not None and used <= set(host.read)


def _target(descriptor: Descriptor, region: FlashRegion, size: int) -> Region:
    target = descriptor.region(region.value)
    if target is None or not target.used:
        raise BadInputError(f"the descriptor on the flash has no {region.value} region")
    if size != target.end - target.start:
        raise BadInputError(
            f"the new {region.value} region is {size:#x} bytes, but the {region.value} region "
            f"on the flash is {target.end - target.start:#x} bytes"
        )
    return target


def _check_new_descriptor(current: Descriptor, data: bytes) -> None:
    new = parse_descriptor(data)
    layout = [(r.index, r.start, r.end, r.used) for r in current.regions]
    if [(r.index, r.start, r.end, r.used) for r in new.regions] != layout:
        raise RefusedError(
            "the new descriptor changes the flash layout; writing only the descriptor would "
            "leave the other regions where the old layout put them"
        )


def _lock_check(spec: str, descriptor: Descriptor, region: FlashRegion) -> str:
    if not _host_bound(spec):
        return "skipped: external programmer, FLMSTR1 does not apply"
    reason = host_write_refusal(descriptor, region)
    if reason is not None:
        raise RefusedError(reason)
    host = descriptor.master("bios")
    if host is None or region.value not in host.read:
        raise RefusedError(
            f"the descriptor on the flash lets the host write but not read the {region} region, "
            "so the write could not be verified; use an external SPI programmer"
        )
    return "FLMSTR1 grants host read and write"


def _check_backup_path(backup: str | os.PathLike[str]) -> Path:
    path = Path(backup)
    if path.exists():
        raise BadInputError(f"backup file {path} already exists; refusing to overwrite it")
    if not path.parent.is_dir():
        raise BadInputError(f"backup directory {path.parent} does not exist")
    return path


class _Before(Record):
    old: bytes  # current contents of what will be written
    backup: bytes  # what goes into the backup file (the whole chip when readable)
    scope: str
    chip_file: Path


def _snapshot(
    spec: str,
    descriptor: Descriptor,
    region: FlashRegion,
    *,
    target: Region,
    workdir: Path,
    t: float,
) -> _Before:
    """Read what a write may destroy: the whole chip when the host may read it all."""
    if not _host_bound(spec) or _host_reads_everything(descriptor):
        chip = _read(spec, (), workdir, t)["chip"]
        old = chip[target.start : target.end]
        return _Before(old=old, backup=chip, scope="chip", chip_file=_save(workdir, chip))
    current = _read(spec, (region,), workdir, t)
    old = current[region.value]
    return _Before(old=old, backup=old, scope="region", chip_file=_save(workdir, current["chip"]))


def _save(workdir: Path, data: bytes) -> Path:
    path = workdir / "chip-current.bin"
    path.write_bytes(data)
    return path


def write_region(
    programmer: str,
    region: FlashRegion,
    data: bytes,
    *,
    backup: str | os.PathLike[str],
    timeout: float = DEFAULT_TIMEOUT,
) -> WriteReport:
    """Write ``data`` into ``region`` only; save the old contents to ``backup`` first; verify.

    The backup holds the whole chip when the programmer may read all of it (a failed write can
    erase beyond the region: flashrom falls back to larger erase blocks), else the region.
    Refuses (``RefusedError``) when the descriptor on the chip locks the region against the
    host, and (``BadInputError``) when ``data`` does not fit the region or ``backup`` exists.
    """
    backup_path = _check_backup_path(backup)
    with tempfile.TemporaryDirectory(prefix="mewarden-flashrom-") as tmp:
        workdir = Path(tmp)
        descriptor = parse_descriptor(_read(programmer, (FlashRegion.FD,), workdir, timeout)["fd"])
        target = _target(descriptor, region, len(data))
        if region is FlashRegion.FD:
            _check_new_descriptor(descriptor, data)
        lock_check = _lock_check(programmer, descriptor, region)
        before = _snapshot(
            programmer, descriptor, region, target=target, workdir=workdir, t=timeout
        )
        report = _report(
            programmer,
            region,
            span=(target.start, target.end),
            before=before,
            data=data,
            lock_check=lock_check,
            backup=backup_path,
        )
        source = workdir / "new.bin"
        argv = write_argv(_find_flashrom(), programmer, region, source, before.chip_file)
        _apply(report, before, argv, data, source=source, backup=backup_path, timeout=timeout)
        return report


def write_chip(
    programmer: str,
    data: bytes,
    *,
    backup: str | os.PathLike[str],
    timeout: float = DEFAULT_TIMEOUT,
) -> WriteReport:
    """Write a whole-chip image (e.g. a backup, to recover); back up the chip first; verify."""
    backup_path = _check_backup_path(backup)
    with tempfile.TemporaryDirectory(prefix="mewarden-flashrom-") as tmp:
        workdir = Path(tmp)
        chip = _read(programmer, (), workdir, timeout)["chip"]
        if len(data) != len(chip):
            raise BadInputError(
                f"the image is {len(data):#x} bytes, but the flash chip is {len(chip):#x} bytes"
            )
        lock_check = _chip_lock_check(programmer, chip)
        before = _Before(old=chip, backup=chip, scope="chip", chip_file=_save(workdir, chip))
        report = _report(
            programmer,
            None,
            span=(0, len(chip)),
            before=before,
            data=data,
            lock_check=lock_check,
            backup=backup_path,
        )
        source = workdir / "new.bin"
        argv = [_find_flashrom(), "-p", programmer, "-w", str(source)]
        _apply(report, before, argv, data, source=source, backup=backup_path, timeout=timeout)
        return report


def _report(
    programmer: str,
    region: FlashRegion | None,
    *,
    span: tuple[int, int],
    before: _Before,
    data: bytes,
    lock_check: str,
    backup: Path,
) -> WriteReport:
    changed = before.old != data
    return WriteReport(
        programmer=programmer,
        region=region,
        start=span[0],
        end=span[1],
        changed=changed,
        backup=backup if changed else None,
        backup_scope=before.scope if changed else "none",
        verified=True,
        lock_check=lock_check,
    )


def _apply(
    report: WriteReport,
    before: _Before,
    argv: list[str],
    data: bytes,
    *,
    source: Path,
    backup: Path,
    timeout: float,
) -> None:
    """Save the backup, write, read back and compare (nothing happens when nothing changes)."""
    if not report.changed:
        return
    atomic_write_bytes(backup, before.backup, mode=0o600)
    source.write_bytes(data)
    _write_and_verify(
        report.programmer,
        argv,
        region=report.region,
        data=data,
        workdir=source.parent,
        report=report,
        timeout=timeout,
    )


def _chip_lock_check(spec: str, chip: bytes) -> str:
    if not _host_bound(spec):
        return "skipped: external programmer, FLMSTR1 does not apply"
    try:
        descriptor = parse_descriptor(chip)
    except FirmwareFormatError:
        return "no readable descriptor on the flash, so no FLMSTR1 to check"
    for region in descriptor.regions:
        if region.used and region.name in FlashRegion.__members__.values():
            _lock_check(spec, descriptor, FlashRegion(region.name))
    return "FLMSTR1 grants host write to every region"


def _recovery(report: WriteReport) -> str:
    assert report.backup is not None
    if report.backup_scope == "chip":
        how = f"mewarden firmware write --programmer PROGRAMMER {report.backup}"
        what = "the whole chip as it was"
    else:
        assert report.region is not None
        how = f"mewarden firmware write --programmer PROGRAMMER --region {report.region} "
        how += str(report.backup)
        what = f"the previous {report.region} region"
    return f"; {what} is saved in {report.backup} (restore with: {how})"


def _write_and_verify(
    spec: str,
    argv: list[str],
    *,
    region: FlashRegion | None,
    data: bytes,
    workdir: Path,
    report: WriteReport,
    timeout: float,
) -> None:
    what = f"the {region} region" if region is not None else "the chip"
    try:
        _run(argv, f"writing {what}", timeout)
        readback = _read(spec, (region,) if region else (), workdir, timeout)
    except ExternalToolError as exc:
        raise ExternalToolError(f"{exc}{_recovery(report)}") from None
    if readback[region.value if region else "chip"] != data:
        raise ExternalToolError(
            f"{what} read back differs from what was written{_recovery(report)}"
        )


def write_region_only(
    programmer: str,
    region: FlashRegion,
    data: bytes,
    *,
    chip_image: bytes,
    timeout: float = DEFAULT_TIMEOUT,
) -> None:
    """Write ``data`` into ``region`` and nothing else; no backup, no read-back.

    For callers that keep their own backup and verify every region themselves (``host
    neutralize``, ``host restore``). ``chip_image`` is a whole-chip image: flashrom 1.3 wants a
    file after ``-w`` even when ``-i REGION:FILE`` supplies the data.
    """
    programmer_name(programmer)
    with tempfile.TemporaryDirectory(prefix="mewarden-flashrom-") as tmp:
        source, chip = Path(tmp) / "region.bin", Path(tmp) / "chip.bin"
        source.write_bytes(data)
        chip.write_bytes(chip_image)
        argv = write_argv(_find_flashrom(), programmer, region, source, chip)
        _run(argv, f"writing the {region} region", timeout)


def host_bound(programmer: str) -> bool:
    """True when ``programmer`` reaches the chip through the PCH (FLMSTR1 applies)."""
    return _host_bound(programmer)
