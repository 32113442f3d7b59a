"""``mewarden amt consent``: the user-consent flow and policy (``IPS_OptInService``)."""

from __future__ import annotations

from typing import Any

import click

from mewarden.cli.amt_run import done, run_operation
from mewarden.cli.output import json_option

POLICIES = ("none", "kvm", "all")


@click.group()
def consent() -> None:
    """User consent (the 6-digit code shown on the managed screen) and its policy."""


@consent.command("status")
@json_option
@click.pass_context
def consent_status(ctx: click.Context, as_json: bool) -> None:
    """Consent policy and the state of the current flow."""
    from mewarden.amt.consent import read_consent

    run_operation(ctx, read_consent, as_json, "consent")


@consent.command("start")
@json_option
@click.pass_context
def consent_start(ctx: click.Context, as_json: bool) -> None:
    """Show a code on the managed screen."""
    from mewarden.amt.consent import start_consent

    run_operation(ctx, done(start_consent, "started"), as_json, "consent")


@consent.command("code")
@click.argument("code")
@json_option
@click.pass_context
def consent_code(ctx: click.Context, code: str, as_json: bool) -> None:
    """Send the code the user read off the managed screen."""
    from mewarden.amt.consent import parse_code, send_code

    parse_code(code)  # fail fast on bad input, before any network
    run_operation(ctx, done(lambda c: send_code(c, code), "accepted"), as_json, "consent")


@consent.command("cancel")
@json_option
@click.pass_context
def consent_cancel(ctx: click.Context, as_json: bool) -> None:
    """Cancel the consent flow."""
    from mewarden.amt.consent import cancel_consent

    run_operation(ctx, done(cancel_consent, "cancelled"), as_json, "consent")


@consent.command("policy")
@click.argument("policy", type=click.Choice(POLICIES))
@json_option
@click.pass_context
def consent_policy(ctx: click.Context, policy: str, as_json: bool) -> None:
    """Require consent for nothing, KVM only, or all redirection (admin control mode only)."""
    from mewarden.amt.consent import set_consent_policy
    from mewarden.wsman.resources import OptInRequired

    required = OptInRequired[policy.upper()]

    async def op(client: Any) -> Any:
        return await set_consent_policy(client, required)

    run_operation(ctx, op, as_json, f"consent policy {policy}")
