"""``mewarden demo``: build a synthetic SPI image in a temporary directory and inspect it.

What ``make demo`` runs until the heal demo replaces it. It writes two images (stock, and
neutralized the way me_cleaner leaves one, with AltMeDisable set), reads them back from disk and
prints the ``firmware inspect`` report for each. Takes well under five seconds.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import click

from mewarden.cli.output import console, json_option


@click.command(name="demo")
@json_option
def command(as_json: bool) -> None:
    """Build synthetic ME images and inspect them (no hardware, no network)."""
    from mewarden.cli.cmd_firmware import render_report
    from mewarden.firmware.inspect import inspect_image
    from mewarden.firmware.synth import SynthSpec, build_image
    from mewarden.fsutil import atomic_write_bytes, read_input_file
    from mewarden.jsonutil import dumps

    specs = {
        "stock.bin": SynthSpec(),
        "neutralized.bin": SynthSpec(neutralized=True, alt_me_disable=True),
    }
    reports = {}
    with tempfile.TemporaryDirectory(prefix="mewarden-demo-") as tmp:
        for name, spec in specs.items():
            path = Path(tmp) / name
            atomic_write_bytes(path, build_image(spec))
            reports[name] = inspect_image(read_input_file(path, what="image"))
    if as_json:
        click.echo(dumps(reports))
        return
    out = console()
    for name, report in reports.items():
        out.rule(f"mewarden firmware inspect {name}")
        render_report(out, report)
