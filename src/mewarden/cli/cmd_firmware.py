"""``mewarden firmware ...``: look at SPI images, ME regions and descriptors.

``firmware inspect IMAGE [--json] [--verify-modules]`` prints what the image says about itself
(the JSON form is the versioned contract in ``docs/firmware-inspect.md``); given several images
or directories it prints a summary table or JSON lines (:mod:`mewarden.cli.firmware_collection`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from mewarden.cli.firmware_neutralize import neutralize_command
from mewarden.cli.output import emit, json_option

if TYPE_CHECKING:
    from rich.console import Console

    from mewarden.firmware.flashrom import WriteReport


@click.group(name="firmware")
def command() -> None:
    """Inspect Intel SPI flash images, ME regions and flash descriptors."""


@command.command(name="inspect")
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@json_option
@click.option(
    "--json-lines",
    is_flag=True,
    help="One JSON document per image and line (several images or directories).",
)
@click.option(
    "--verify-modules", is_flag=True, help="Also check every module hash (slower; see docs)."
)
@click.option(
    "--jobs",
    "-j",
    type=click.IntRange(min=1),
    default=None,
    help="Worker threads for several images (default: one per core).",
)
def inspect_command(
    images: tuple[Path, ...],
    as_json: bool,
    json_lines: bool,
    verify_modules: bool,
    jobs: int | None,
) -> None:
    """Report descriptor, ME firmware, signature, state and Boot Guard hints of each IMAGE.

    One file: the full report. Several files or directories (walked recursively): a summary
    table, or with --json-lines one report per line; unreadable files are rows with their error.
    """
    if as_json and json_lines:
        raise click.UsageError("--json and --json-lines exclude each other")
    if len(images) > 1 or json_lines or images[0].is_dir():
        _inspect_collection(images, as_json, json_lines, verify_modules, jobs)
        return
    from mewarden.cli.firmware_report_text import inspect_one

    inspect_one(images[0], as_json=as_json, verify_modules=verify_modules)


def _inspect_collection(
    images: tuple[Path, ...], as_json: bool, json_lines: bool, verify: bool, jobs: int | None
) -> None:
    from mewarden.cli.firmware_collection import run_collection
    from mewarden.cli.output import track

    run_collection(
        images,
        verify_modules=verify,
        jobs=jobs,
        output="json-lines" if json_lines else "json" if as_json else "table",
        track=lambda rows, total: track(rows, total=total, description="inspecting"),
    )


# --- firmware read / write: flashrom (mewarden.firmware.flashrom, FW-A) ------------------------

_FLASH_REGIONS = ("fd", "bios", "me", "gbe")
_PROGRAMMER = click.option(
    "--programmer", "-p", required=True, help="flashrom programmer: internal, ch341a_spi, ..."
)


@command.command(name="read")
@_PROGRAMMER
@click.option(
    "--region",
    type=click.Choice(_FLASH_REGIONS),
    default=None,
    help="Read one region (located by the descriptor on the chip); default: the whole chip.",
)
@click.option(
    "-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
    help="Where to save what was read (written atomically, mode 0600).",
)  # fmt: skip
@json_option
def read_command(programmer: str, region: str | None, output: Path, as_json: bool) -> None:
    """Read the flash chip, or one region of it, with flashrom."""
    import hashlib

    from mewarden.firmware.flashrom import FlashRegion, read_flash
    from mewarden.fsutil import atomic_write_bytes

    data = read_flash(programmer, region=FlashRegion(region) if region else None)
    atomic_write_bytes(output, data, mode=0o600)
    report = {
        "programmer": programmer,
        "region": region or "chip",
        "output": str(output),
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    emit(
        report,
        as_json=as_json,
        render=lambda c: c.print(f"read {len(data):#x} bytes ({region or 'chip'}) into {output}"),
    )


@command.command(name="write")
@click.argument("image", type=click.Path(dir_okay=False, path_type=Path))
@_PROGRAMMER
@click.option(
    "--region",
    type=click.Choice(_FLASH_REGIONS),
    default=None,
    help="Write only this region (IMAGE is the region, or a full image holding it); "
    "default: the whole chip.",
)
@click.option(
    "--backup", type=click.Path(dir_okay=False, path_type=Path), default=None,
    help="Where to save what is overwritten (default: next to IMAGE, time-stamped).",
)  # fmt: skip
@json_option
def write_command(
    image: Path, programmer: str, region: str | None, backup: Path | None, as_json: bool
) -> None:
    """Write IMAGE with flashrom: back up first, verify after, refuse host-locked regions."""
    import datetime

    from mewarden.firmware import flashrom
    from mewarden.fsutil import read_input_file

    data = read_input_file(image, what="image")
    if backup is None:
        stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
        backup = image.with_name(f"{image.name}.{region or 'chip'}-backup-{stamp}.bin")
    if region is None:
        report = flashrom.write_chip(programmer, data, backup=backup)
    else:
        target = flashrom.FlashRegion(region)
        data = flashrom.region_from_image(data, target)
        report = flashrom.write_region(programmer, target, data, backup=backup)
    emit(report, as_json=as_json, render=lambda c: _render_write(c, report))


def _render_write(console: Console, report: WriteReport) -> None:
    what = f"{report.region} region" if report.region else "whole chip"
    if not report.changed:
        console.print(f"the {what} already holds this image; nothing written")
        return
    console.print(
        f"wrote and verified the {what} ({report.start:#x}-{report.end:#x}); previous "
        f"contents ({report.backup_scope}) saved in {report.backup}"
    )


command.add_command(neutralize_command)
