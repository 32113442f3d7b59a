"""``mewarden firmware neutralize IMAGE -o OUT``: strip ME code and/or set the ME-disable strap.

The command never touches IMAGE: it plans (refusing what is unsafe), builds the output in
memory, re-parses and verifies it, and only then writes OUT (and any extracted files) atomically.
Bad input exits 2 and refusals exit 3, in both cases before anything is written.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from mewarden.cli.output import emit, json_option
from mewarden.errors import BadInputError

if TYPE_CHECKING:
    from rich.console import Console

    from mewarden.firmware.neutralize import NeutralizeOptions, NeutralizePlan, Verification
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


def _boot_guard_not_enforced(path: Path | None) -> bool:
    """True when the probe JSON at ``path`` says Boot Guard is not enforced."""
    if path is None:
        return False
    from mewarden.fsutil import read_input_file

    raw = read_input_file(path, what="Boot Guard status file")
    try:
        document: Any = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise BadInputError(f"Boot Guard status file {path} is not JSON") from None
    if not isinstance(document, dict) or "boot_guard" not in document:
        raise BadInputError(
            f"Boot Guard status file {path} has no 'boot_guard' key "
            "(expected the JSON of 'mewarden host probe')"
        )
    return bool(document["boot_guard"] == _NOT_ENFORCED)


def _distinct(paths: list[Path]) -> None:
    seen: list[Path] = []
    for path in paths:
        resolved = path.resolve()
        for other in seen:
            same = resolved == other or (
                resolved.exists() and other.exists() and os.path.samefile(resolved, other)
            )
            if same:
                raise BadInputError(
                    f"{path} is named twice; the input is never overwritten and each "
                    "output needs its own file"
                )
        seen.append(resolved)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class _Outputs:
    image: bytes
    files: tuple[tuple[Path, bytes], ...]


def _outputs(
    data: bytes,
    options: NeutralizeOptions,
    extract_descriptor: Path | None,
    extract_me: Path | None,
) -> tuple[NeutralizePlan, Verification, _Outputs]:
    from mewarden.firmware import neutralize as nz
    from mewarden.firmware.neutralize_layout import ImageKind, read_me_image

    plan = nz.plan_neutralize(read_me_image(data), options)
    output = nz.apply_neutralize(data, plan)
    verification = nz.verify_neutralized(output, plan)
    files: list[tuple[Path, bytes]] = []
    if extract_descriptor is not None:
        files.append((extract_descriptor, nz.extracted_descriptor(output, plan)))
    if extract_me is not None:
        me = nz.extracted_me(output, plan)
        size = len(me)
        bare = dataclasses.replace(
            plan,
            kind=ImageKind.ME_REGION,
            region_start=0,
            region_end=size,
            strap=None,
            restrict_me_access=False,
        )
        nz.verify_neutralized(me, bare)
        files.append((extract_me, me))
    return plan, verification, _Outputs(image=output, files=tuple(files))


def _render(report: NeutralizeReport) -> Callable[[Console], None]:
    def render(console: Console) -> None:
        before, after = report.before, report.after
        console.print(f"{report.input} -> {report.output} ({report.mode})")
        console.print(
            f"ME {after.me_version or 'unknown'} ({after.layout}); size "
            f"{before.size:#x} -> {after.size:#x}"
        )
        if report.removed_partitions:
            console.print(f"removed partitions: {', '.join(report.removed_partitions)}")
        if report.modules:
            console.print(
                f"kept modules: {', '.join(report.kept_modules) or '-'}; removed: "
                f"{', '.join(report.removed_modules) or '-'}"
            )
        if report.minimum_me_size is not None:
            console.print(f"ME minimum size: {report.minimum_me_size:#x} bytes")
        if report.strap_written is not None:
            strap = report.strap_written
            console.print(
                f"set {strap.name}: PCHSTRP{strap.strap} bit {strap.bit} "
                f"({strap.family}, {strap.confidence})"
            )
        checks = dataclasses.asdict(report.verification)
        console.print(
            "verified: "
            + ", ".join(
                f"{k.replace('_', ' ')}={'ok' if v else 'FAILED'}"
                for k, v in checks.items()
                if v is not None
            )
        )
        for path in report.extracted:
            console.print(f"extracted {path}")
        for warning in report.warnings:
            console.print(f"[yellow]warning:[/] {warning}")

    return render


@click.command(name="neutralize")
@click.argument("image", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "-o",
    "--output",
    "output",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="Where to write the result.",
)
@click.option(
    "--mode",
    type=click.Choice(["strip-and-disable", "disable-only", "strip-only"]),
    default=None,
    help="Default: strip-and-disable for full images, strip-only for ME regions.",
)
@click.option("--relocate", is_flag=True, help="Move FTPR to the start of the ME region.")
@click.option(
    "--truncate", is_flag=True, help="Cut the empty tail (bare ME region, or with --extract-me)."
)
@click.option("--keep-modules", is_flag=True, help="Remove partitions but no FTPR modules.")
@click.option("--keep-partitions", metavar="A,B", help="Partitions to keep besides FTPR.")
@click.option("--remove-partitions", metavar="A,B", help="Remove only these partitions.")
@click.option(
    "--restrict-me-access",
    is_flag=True,
    help="Let the ME master reach only its own region (FLMSTR2).",
)
@click.option(
    "--extract-descriptor",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Also write the descriptor (regions shrunk when truncating).",
)
@click.option(
    "--extract-me",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Also write the ME region (truncated with --truncate).",
)
@click.option(
    "--platform", metavar="FAMILY", help="PCH family, where the descriptor's straps do not tell it."
)
@click.option(
    "--boot-guard-status",
    type=click.Path(path_type=Path, dir_okay=False),
    help="JSON of 'mewarden host probe' from this machine (Boot Guard evidence).",
)
@click.option("--force", is_flag=True, help="Remove code even though Boot Guard manifests exist.")
@json_option
def neutralize_command(  # noqa: PLR0917 (click passes every option)
    image: Path,
    output: Path,
    mode: str | None,
    relocate: bool,
    truncate: bool,
    keep_modules: bool,
    keep_partitions: str | None,
    remove_partitions: str | None,
    restrict_me_access: bool,
    extract_descriptor: Path | None,
    extract_me: Path | None,
    platform: str | None,
    boot_guard_status: Path | None,
    force: bool,
    as_json: bool,
) -> None:
    """Neutralize the Intel ME in IMAGE (a full SPI image or a bare ME region) into OUT."""
    from mewarden.firmware.neutralize import Mode, NeutralizeOptions
    from mewarden.firmware.report import ReportInputs, build_report
    from mewarden.fsutil import atomic_write_bytes, read_input_file

    extras = [p for p in (extract_descriptor, extract_me) if p is not None]
    _distinct([image, output, *extras])
    data = read_input_file(image, what="image")
    options = NeutralizeOptions(
        mode=Mode(mode) if mode else None,
        relocate=relocate,
        truncate=truncate,
        keep_modules=keep_modules,
        keep_partitions=_names(keep_partitions),
        remove_partitions=_names(remove_partitions),
        restrict_me_access=restrict_me_access,
        extract_descriptor=extract_descriptor is not None,
        extract_me=extract_me is not None,
        platform=platform,
        boot_guard_not_enforced=_boot_guard_not_enforced(boot_guard_status),
        force=force,
    )
    plan, verification, outputs = _outputs(data, options, extract_descriptor, extract_me)
    report = build_report(
        data,
        outputs.image,
        plan,
        ReportInputs(
            input=str(image),
            output=str(output),
            options=options,
            verification=verification,
            extracted=tuple(str(p) for p, _ in outputs.files),
        ),
    )
    try:
        for path, content in outputs.files:
            atomic_write_bytes(path, content)
        atomic_write_bytes(output, outputs.image)  # last: OUT exists only when all went well
    except OSError as exc:
        raise BadInputError(f"cannot write {exc.filename or output}: {exc.strerror}") from None
    emit(report, as_json=as_json, render=_render(report))
