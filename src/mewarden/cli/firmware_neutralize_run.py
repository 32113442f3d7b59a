"""``mewarden firmware neutralize IMAGE -o OUT``: strip ME code and/or set the ME-disable strap.

The command never touches IMAGE: it plans (refusing what is unsafe), builds the output in
memory, re-parses and verifies it, and only then writes OUT (and any extracted files) atomically.
Bad input exits 2 and refusals exit 3, in both cases before anything is written.

This module does the work without click, so that the lean path
(:mod:`mewarden.cli.firmware_lean`) and the click command
(:mod:`mewarden.cli.firmware_neutralize`) run the same code.
"""

from __future__ import annotations

import os

from mewarden import record
from mewarden.cli.text import write_json, write_lines
from mewarden.errors import BadInputError
from mewarden.record import Record

TYPE_CHECKING = False  # typing costs milliseconds at start-up; mypy reads this as True
if TYPE_CHECKING:
    from typing import Any

    from mewarden.firmware.neutralize import NeutralizeOptions, NeutralizePlan, Verification
    from mewarden.firmware.neutralize_layout import MeImage
    from mewarden.firmware.report import NeutralizeReport

_NOT_ENFORCED = "not-enforced"


def _names(value: str | None) -> tuple[str, ...]:
    if value is None:
        return ()
    names = tuple(n.strip() for n in value.split(","))
    for name in names:
        if not name:
            raise BadInputError(f"partition list {value!r} has an empty name; give A,B,...")
        if len(name) > 4 or not name.isascii():
            raise BadInputError(f"partition name {name!r} is not a 4-character FPT name")
    return names


def _boot_guard_not_enforced(path: str | None) -> bool:
    """True when the probe JSON at ``path`` says Boot Guard is not enforced."""
    if path is None:
        return False
    from mewarden.fsutil import read_input_file

    raw = read_input_file(path, what="Boot Guard status file")
    try:
        import json

        document: Any = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise BadInputError(f"Boot Guard status file {path} is not JSON") from None
    if not isinstance(document, dict) or "boot_guard" not in document:
        raise BadInputError(
            f"Boot Guard status file {path} has no 'boot_guard' key "
            "(expected the JSON of 'mewarden host probe')"
        )
    return bool(document["boot_guard"] == _NOT_ENFORCED)


def _distinct(paths: list[str]) -> None:
    seen: list[str] = []
    for path in paths:
        resolved = os.path.realpath(path)
        for other in seen:
            same = resolved == other or (
                os.path.exists(resolved)
                and os.path.exists(other)
                and os.path.samefile(resolved, other)
            )
            if same:
                raise BadInputError(
                    f"{path} is named twice; the input is never overwritten and each "
                    "output needs its own file"
                )
        seen.append(resolved)


class _Outputs(Record):
    image: bytes
    files: tuple[tuple[str, bytes], ...]
    parsed: MeImage
    """The input as planned, for the report."""


def _outputs(
    data: bytes,
    options: NeutralizeOptions,
    extract_descriptor: str | None,
    extract_me: str | None,
) -> tuple[NeutralizePlan, Verification, _Outputs]:
    from mewarden.firmware import neutralize as nz
    from mewarden.firmware.neutralize_layout import ImageKind, read_me_image

    parsed = read_me_image(data)
    plan = nz.plan_neutralize(parsed, options)
    output = nz.apply_neutralize(data, plan)
    verification = nz.verify_neutralized(output, plan)
    files: list[tuple[str, bytes]] = []
    if extract_descriptor is not None:
        files.append((extract_descriptor, nz.extracted_descriptor(output, plan)))
    if extract_me is not None:
        me = nz.extracted_me(output, plan)
        size = len(me)
        bare = record.replace(
            plan,
            kind=ImageKind.ME_REGION,
            region_start=0,
            region_end=size,
            strap=None,
            restrict_me_access=False,
        )
        nz.verify_neutralized(me, bare)
        files.append((extract_me, me))
    return plan, verification, _Outputs(image=output, files=tuple(files), parsed=parsed)


def report_lines(report: NeutralizeReport) -> list[str]:
    """A neutralize report as text for people."""
    before, after = report.before, report.after
    lines = [
        f"{report.input} -> {report.output} ({report.mode})",
        f"ME {after.me_version or 'unknown'} ({after.layout}); size {before.size:#x} -> "
        f"{after.size:#x}",
    ]
    if report.removed_partitions:
        lines.append(f"removed partitions: {', '.join(report.removed_partitions)}")
    if report.modules:
        lines.append(
            f"kept modules: {', '.join(report.kept_modules) or '-'}; removed: "
            f"{', '.join(report.removed_modules) or '-'}"
        )
    if report.minimum_me_size is not None:
        lines.append(f"ME minimum size: {report.minimum_me_size:#x} bytes")
    if report.strap_written is not None:
        strap = report.strap_written
        lines.append(
            f"set {strap.name}: PCHSTRP{strap.strap} bit {strap.bit} "
            f"({strap.family}, {strap.confidence})"
        )
    checks = record.asdict(report.verification)
    lines.append(
        "verified: "
        + ", ".join(
            f"{k.replace('_', ' ')}={'ok' if v else 'FAILED'}"
            for k, v in checks.items()
            if v is not None
        )
    )
    lines += [f"extracted {path}" for path in report.extracted]
    return lines + [f"warning: {warning}" for warning in report.warnings]


class NeutralizeArgs(Record):
    """The command line of ``firmware neutralize``, as either path parsed it."""

    image: str
    output: str
    mode: str | None = None
    relocate: bool = False
    truncate: bool = False
    keep_modules: bool = False
    keep_partitions: str | None = None
    remove_partitions: str | None = None
    restrict_me_access: bool = False
    extract_descriptor: str | None = None
    extract_me: str | None = None
    platform: str | None = None
    boot_guard_status: str | None = None
    force: bool = False
    as_json: bool = False


def _options(args: NeutralizeArgs) -> NeutralizeOptions:
    from mewarden.firmware.neutralize import Mode, NeutralizeOptions

    return NeutralizeOptions(
        mode=Mode(args.mode) if args.mode else None,
        relocate=args.relocate,
        truncate=args.truncate,
        keep_modules=args.keep_modules,
        keep_partitions=_names(args.keep_partitions),
        remove_partitions=_names(args.remove_partitions),
        restrict_me_access=args.restrict_me_access,
        extract_descriptor=args.extract_descriptor is not None,
        extract_me=args.extract_me is not None,
        platform=args.platform,
        boot_guard_not_enforced=_boot_guard_not_enforced(args.boot_guard_status),
        force=args.force,
    )


def run_neutralize(args: NeutralizeArgs) -> None:
    """Neutralize the Intel ME in IMAGE (a full SPI image or a bare ME region) into OUT."""
    from mewarden.firmware.report import ReportInputs, build_report
    from mewarden.fsutil import atomic_write_bytes, read_input_file, shown_path

    extras = [p for p in (args.extract_descriptor, args.extract_me) if p is not None]
    _distinct([args.image, args.output, *extras])
    data = read_input_file(args.image, what="image")
    options = _options(args)
    plan, verification, outputs = _outputs(data, options, args.extract_descriptor, args.extract_me)
    inputs = ReportInputs(
        input=shown_path(args.image),
        output=shown_path(args.output),
        options=options,
        verification=verification,
        extracted=tuple(shown_path(p) for p, _ in outputs.files),
    )
    report = build_report(
        data, outputs.image, plan, inputs, parsed_before=outputs.parsed, digests=args.as_json
    )
    try:
        for path, content in outputs.files:
            atomic_write_bytes(path, content)
        atomic_write_bytes(args.output, outputs.image)  # last: OUT exists only when all went well
    except OSError as exc:
        raise BadInputError(f"cannot write {exc.filename or args.output}: {exc.strerror}") from None
    if args.as_json:
        write_json(report)
    else:
        write_lines(report_lines(report))
