"""``mewarden node console`` and ``mewarden node captures``: an enrolled node's SOL console
(vault credentials, stored pin, audit events) and the console captures heal kept for it."""

from __future__ import annotations

import asyncio
from typing import Any

import click

from mewarden.cli.amt_console import console_options
from mewarden.cli.cmd_org import OrgAccess, org_options
from mewarden.cli.output import emit, json_option


@click.command("console")
@click.argument("name")
@console_options
@org_options
def console(org: OrgAccess, name: str, as_json: bool, **values: Any) -> None:
    """Serial-over-LAN console of an enrolled node (credentials from the vault; audited)."""
    from mewarden.cli.amt_console import ConsoleOptions, check_options, report, run_console
    from mewarden.cli.node_access import audit, keep_pin, node_endpoint
    from mewarden.errors import MewardenError
    from mewarden.redirect.consent_flow import enable_command
    from mewarden.redirect.wire import SessionType

    options = ConsoleOptions(as_json=as_json, **values)
    check_options(options)
    store, endpoint = node_endpoint(org, name)
    hint = enable_command(endpoint.host, SessionType.SOL, tls=endpoint.tls)
    mode = "capture" if options.capture_s is not None else "interactive"
    audit(store, name, "console.open", {"kind": "sol", "mode": mode})
    try:
        result = asyncio.run(run_console(endpoint, options, enable_hint=hint))
    except MewardenError as exc:
        audit(store, name, "console.close", {"kind": "sol", "error": type(exc).__name__})
        raise
    audit(store, name, "console.close", {"kind": "sol", "consent": result.consent})
    keep_pin(store, name, result.observed_pin)
    report(result, options)


@click.command("captures")
@click.argument("name")
@click.option("--last", type=click.IntRange(1, 1000), default=4, show_default=True)
@click.option(
    "--png-dir",
    type=click.Path(file_okay=False),
    help="Write the KVM screenshots here (NAME-ID.png).",
)
@org_options
@json_option
def captures(org: OrgAccess, name: str, last: int, png_dir: str | None, as_json: bool) -> None:
    """The console captures heal kept for a node (SOL text; KVM screenshots with --png-dir)."""
    from mewarden.cli.node_access import capture_rows

    rows = capture_rows(org.store(), name, last=last, png_dir=png_dir)

    def render(_console: Any) -> None:
        for row in rows:
            click.echo(f"--- {row['kind']} at {row['at']} ({row['source']})")
            for key in ("error", "png"):
                if row.get(key):
                    click.echo(f"{key}: {row[key]}")
            if row.get("text"):
                click.echo(row["text"])

    emit(rows, as_json=as_json, render=render)
