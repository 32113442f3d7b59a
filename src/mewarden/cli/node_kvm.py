"""``mewarden node kvm``: an enrolled node's screen (vault credentials, stored pin, audit
events) through the local VNC bridge of ``amt kvm``, or one screenshot."""

from __future__ import annotations

import asyncio
from typing import Any

import click

from mewarden.cli.amt_kvm import bridge_options
from mewarden.cli.cmd_org import OrgAccess, org_options


@click.command("kvm")
@click.argument("name")
@click.option(
    "--screenshot", "screenshot_file", type=click.Path(dir_okay=False), help="Save one PNG frame."
)
@bridge_options
@org_options
def kvm(
    org: OrgAccess,
    name: str,
    screenshot_file: str | None,
    listen: str | None,
    colour_bits: str,
    **values: Any,
) -> None:
    """KVM of an enrolled node: a local VNC bridge (--listen) or one --screenshot (audited)."""
    from mewarden.cli.amt_kvm import (
        BridgeOptions,
        check_bridge,
        report_screenshot,
        run_kvm_bridge,
        take_screenshot,
    )
    from mewarden.cli.node_access import audit, keep_pin, node_endpoint
    from mewarden.errors import BadInputError, MewardenError

    if (listen is None) == (screenshot_file is None):
        raise BadInputError("give exactly one of --listen HOST:PORT and --screenshot FILE")
    checked = None
    if listen is not None:
        options = BridgeOptions(listen=listen, colour_bits=int(colour_bits), **values)
        checked = check_bridge(options)  # bad input fails before the org is opened
    store, endpoint = node_endpoint(org, name)
    mode = "bridge" if checked is not None else "screenshot"
    audit(store, name, "console.open", {"kind": "kvm", "mode": mode})
    try:
        if checked is not None:
            result: Any = asyncio.run(run_kvm_bridge(endpoint, options, checked))
            pin, detail = result.observed_pin, {"viewers": result.viewers}
        else:
            assert screenshot_file is not None
            result = asyncio.run(take_screenshot(endpoint, screenshot_file))
            pin, detail = result["observed_pin"], {"file": screenshot_file}
    except (MewardenError, KeyboardInterrupt) as exc:
        audit(store, name, "console.close", {"kind": "kvm", "error": type(exc).__name__})
        raise
    audit(store, name, "console.close", {"kind": "kvm", **detail})
    keep_pin(store, name, pin)
    if checked is None:
        report_screenshot(result, values["as_json"])
