"""``mewarden firmware neutralize`` as a click command (help, usage errors); the work is in
:mod:`mewarden.cli.firmware_neutralize_run`, shared with the lean path."""

from __future__ import annotations

from typing import Any

import click

from mewarden.cli.output import json_option


@click.command(name="neutralize")
@click.argument("image", type=click.Path(dir_okay=False))
@click.option(
    "-o",
    "--output",
    "output",
    required=True,
    type=click.Path(dir_okay=False),
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
    type=click.Path(dir_okay=False),
    help="Also write the descriptor (regions shrunk when truncating).",
)
@click.option(
    "--extract-me",
    type=click.Path(dir_okay=False),
    help="Also write the ME region (truncated with --truncate).",
)
@click.option(
    "--platform", metavar="FAMILY", help="PCH family, where the descriptor's straps do not tell it."
)
@click.option(
    "--boot-guard-status",
    type=click.Path(dir_okay=False),
    help="JSON of 'mewarden host probe' from this machine (Boot Guard evidence).",
)
@click.option("--force", is_flag=True, help="Remove code even though Boot Guard manifests exist.")
@json_option
def neutralize_command(**params: Any) -> None:
    """Neutralize the Intel ME in IMAGE (a full SPI image or a bare ME region) into OUT."""
    from mewarden.cli.firmware_neutralize_run import NeutralizeArgs, run_neutralize

    run_neutralize(NeutralizeArgs(**params))
