"""``mewarden firmware inspect IMAGE`` for one image: the work and its text, without click.

Both the click command (:mod:`mewarden.cli.cmd_firmware`) and the lean path
(:mod:`mewarden.cli.firmware_lean`) call :func:`inspect_one`.
"""

from __future__ import annotations

from mewarden.cli.text import table, write_json, write_lines, yes_no

TYPE_CHECKING = False  # typing costs milliseconds at start-up; mypy reads this as True
if TYPE_CHECKING:
    import os

    from mewarden.firmware.inspect import InspectReport
    from mewarden.firmware.me.analyze import ModuleReport


def inspect_one(path: str | os.PathLike[str], *, as_json: bool, verify_modules: bool) -> None:
    """Read, inspect and print one image."""
    from mewarden.firmware.inspect import inspect_image
    from mewarden.fsutil import read_input_file

    report = inspect_image(read_input_file(path, what="image"), verify_modules=verify_modules)
    if as_json:
        write_json(report)
    else:
        write_lines(report_lines(report))


def report_lines(report: InspectReport) -> list[str]:
    """An :class:`~mewarden.firmware.inspect.InspectReport` as text for people."""
    lines = [f"{report.kind.value}, {report.size:#x} bytes"]
    if report.descriptor is not None:
        lines += _descriptor_lines(report)
    if report.me is not None:
        lines += _me_lines(report)
    if report.boot_guard is not None:
        bg = report.boot_guard
        lines.append(
            f"Boot Guard hints: FIT {'found' if bg.fit_found else 'not found'}, "
            f"key manifest {yes_no(bg.key_manifest)}, boot policy manifest "
            f"{yes_no(bg.boot_policy_manifest)} ({bg.note})"
        )
    lines += [f"warning: {warning}" for warning in report.warnings]
    return lines


def _descriptor_lines(report: InspectReport) -> list[str]:
    desc = report.descriptor
    if desc is None:
        return []
    size = f", flash size {desc.flash_size:#x}" if desc.flash_size else ""
    used = [(r.name, f"{r.start:#x}", f"{r.end:#x}") for r in desc.regions if r.used]
    strap = desc.me_disable
    where = f"PCHSTRP{strap.strap} bit {strap.bit}" if strap.strap is not None else "unknown"
    return [
        f"Descriptor: IFD v{desc.version}{size}",
        *table(("region", "start", "end (excl.)"), used),
        f"PCH family: {desc.pch_family or 'unknown'}; ME disable strap: {strap.name} at "
        f"{where}, set: {yes_no(strap.set)} (confidence: {strap.confidence})",
    ]


def _me_lines(report: InspectReport) -> list[str]:
    me = report.me
    if me is None:
        return []
    lines = [
        f"ME: {me.family} {me.version or '?'}, layout {me.layout.value}, state {me.state.value}"
    ]
    if me.fpt is not None:
        valid = "valid" if me.fpt.checksum_valid else "INVALID"
        lines.append(f"$FPT: {me.fpt.entry_count} entries, {me.fpt.checksum_kind} checksum {valid}")
    if me.manifest is not None:
        man = me.manifest
        lines.append(
            f"FTPR manifest: RSA-{man.key_size} {man.signature_scheme}, signature "
            f"{yes_no(man.signature_valid)}, key {man.key_known or 'unknown'} (MD5 {man.key_md5})"
        )
    rows = [
        (
            p.name,
            f"{p.offset:#x}",
            f"{p.length:#x}",
            p.kind if p.kind != "data" else yes_no(p.present),
        )
        for p in me.partitions
    ]
    lines += table(("partition", "offset", "length", "present"), rows)
    return lines + _module_lines(me.modules + me.other_modules)


def _module_lines(modules: tuple[ModuleReport, ...]) -> list[str]:
    """Modules by partition (FTPR first), then the hash check's tally when one ran."""
    by_partition: dict[str, list[ModuleReport]] = {}
    for module in modules:
        by_partition.setdefault(module.partition, []).append(module)
    lines = [
        f"Modules ({partition}): "
        + ", ".join(f"{m.name}{'' if m.present else ' (removed)'}" for m in found)
        for partition, found in by_partition.items()
    ]
    checked = [m for m in modules if m.hash_valid is not None]
    if checked:
        bad = [f"{m.partition}/{m.name}" for m in checked if m.hash_valid is False]
        unchecked = sum(1 for m in modules if m.present and m.hash_valid is None)
        tally = f"{len(checked) - len(bad)} match, {len(bad)} MISMATCH, {unchecked} not checkable"
        lines.append(f"Module hashes: {tally}" + (f" ({', '.join(bad)})" if bad else ""))
    return lines
