"""``mewarden amt console``: Serial-over-LAN in the terminal, or captured for scripts.

Before the redirection port is touched, WS-MAN says whether SOL and the listener are enabled
(else the error names the enabling command), whether the host is powered, and whether user
consent is needed (client control mode: always; the code is read from
``MEWARDEN_CONSENT_CODE`` or asked for on the terminal). Then SOL opens on 16994, or 16995
with ``--tls``, where the certificate must be the one WS-MAN just saw (or ``--pin``).
``mewarden node console`` runs the same for an enrolled node (:mod:`mewarden.cli.node_access`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import sys
from dataclasses import dataclass
from typing import Any

import click

from mewarden.cli.output import json_option

CONSENT_CODE_ENV = "MEWARDEN_CONSENT_CODE"


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsoleOptions:
    """What the user asked of the console."""

    capture_s: float | None
    log: str | None
    read_only: bool
    allow_off: bool
    port: int | None
    as_json: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsoleResult:
    """How the session went (for the audit trail and ``--json``)."""

    host: str
    port: int
    auth: str
    consent: bool
    text: str | None = None
    host_powered: bool | None = None
    observed_pin: str | None = None


def consent_prompt() -> str:
    """The consent code: ``MEWARDEN_CONSENT_CODE``, else a prompt on a terminal."""
    from mewarden.errors import BadInputError

    code = os.environ.get(CONSENT_CODE_ENV, "")
    if code:
        return code
    if not sys.stdin.isatty():
        raise BadInputError(
            f"the device requires user consent: set {CONSENT_CODE_ENV} to the 6 digits its "
            "screen shows, or run on a terminal to be asked"
        )
    return str(click.prompt("User consent code shown on the managed screen", err=True))


def console_options(func: Any) -> Any:
    """The options ``amt console`` and ``node console`` share."""
    options = [
        click.option(
            "--capture",
            "capture_s",
            type=click.FloatRange(0.1, 3600),
            help="Print what the console shows within SECONDS and exit (for scripts).",
        ),
        click.option("--log", type=click.Path(dir_okay=False), help="Write a transcript."),
        click.option("--read-only", is_flag=True, help="Watch only: typed keys are not sent."),
        click.option("--allow-off", is_flag=True, help="Open even when the host is powered off."),
        click.option(
            "--redirection-port",
            "port",
            type=click.IntRange(1, 65535),
            help="Default 16994, or 16995 with --tls.",
        ),
        json_option,
    ]
    for option in reversed(options):
        func = option(func)
    return func


async def _prepare(
    endpoint: Any, options: ConsoleOptions, enable_hint: str
) -> tuple[Any, bool, bool]:
    """WS-MAN checks and consent: the endpoint for the redirection port (pinned to the
    certificate WS-MAN saw when no pin was given), whether consent was exchanged, and
    whether the host is powered."""
    from mewarden.amt.client import AmtClient
    from mewarden.redirect.consent_flow import check_ready, ensure_consent
    from mewarden.redirect.wire import SessionType

    async with AmtClient(endpoint) as client:
        powered = await check_ready(
            client,
            SessionType.SOL,
            host=endpoint.host,
            enable_hint=enable_hint,
            allow_off=options.allow_off,
        )
        consent = await ensure_consent(client, SessionType.SOL, consent_prompt)
        seen = client.observed_pin
    if endpoint.tls and not endpoint.pin_sha256 and seen:
        endpoint = dataclasses.replace(endpoint, pin_sha256=seen)
    return endpoint, consent, powered


async def run_console(endpoint: Any, options: ConsoleOptions, *, enable_hint: str) -> ConsoleResult:
    """The whole console: checks, consent, SOL, then interactive or capture."""
    from mewarden.cli import sol_terminal as term
    from mewarden.redirect.protocol import Authenticated, InsecureAuth
    from mewarden.redirect.session import RedirectionSession, redirection_port
    from mewarden.redirect.sol import SolChannel

    pinned, consent, powered = await _prepare(endpoint, options, enable_hint)
    session = await RedirectionSession.open(
        pinned, SolChannel(), port=options.port, enable_hint=enable_hint
    )
    notice = term.stderr_notice(False)
    auth = next((e.method.name for e in session.opening if isinstance(e, Authenticated)), "")
    if any(isinstance(e, InsecureAuth) for e in session.opening):
        where = "inside TLS" if endpoint.tls else "across the network in the clear"
        notice(f"warning: the device offers only plain authentication; the password went {where}")
    result = ConsoleResult(
        host=endpoint.host,
        port=redirection_port(endpoint, options.port),
        auth=auth.lower(),
        consent=consent,
        host_powered=powered,
        observed_pin=pinned.pin_sha256 if not endpoint.pin_sha256 else None,
    )
    with term.Transcript(options.log) as transcript:
        if options.capture_s is not None:
            shown, status = await term.run_capture(
                session, seconds=options.capture_s, transcript=transcript, notice=notice
            )
            text = shown.decode("utf-8", "replace").replace("\r\n", "\n").removeprefix("\n")
            powered = powered if status is None else status
            return dataclasses.replace(result, text=text, host_powered=powered)
        await _interactive(session, options, transcript)
    return result


async def _interactive(session: Any, options: ConsoleOptions, transcript: Any) -> None:
    from mewarden.cli import sol_terminal as term
    from mewarden.redirect.escape import HELP

    size = term.terminal_size(sys.stdout.fileno())
    hint = ""
    if size is not None:
        hint = f"; SOL carries no window size: on the host, 'stty cols {size[0]} rows {size[1]}'"
    mode = " (read-only)" if options.read_only else ""
    term.stderr_notice(False)(f"connected to {session.label}{mode}; to leave: {HELP}{hint}")
    with term.raw_terminal(sys.stdin.fileno()) as raw:
        try:
            await term.run_interactive(
                session,
                in_fd=sys.stdin.fileno(),
                out_fd=sys.stdout.fileno(),
                read_only=options.read_only,
                transcript=transcript,
                notice=term.stderr_notice(raw),
            )
        finally:
            if raw:
                sys.stderr.write("\r\n")
    term.stderr_notice(False)(f"console to {session.label} closed")


def report(result: ConsoleResult, options: ConsoleOptions) -> None:
    """After the session: the capture (text or JSON) and a TOFU pin to keep."""
    from mewarden.cli.output import emit

    if result.observed_pin:
        click.echo(
            f"mewarden: TLS certificate SHA-256 (pin it with --pin): {result.observed_pin}",
            err=True,
        )
    if options.capture_s is None:
        return
    if options.as_json:
        emit(result, as_json=True, render=lambda _out: None)
    else:
        click.echo(result.text or "", nl=not (result.text or "").endswith("\n"))


def check_options(options: ConsoleOptions) -> None:
    from mewarden.errors import BadInputError

    if options.as_json and options.capture_s is None:
        raise BadInputError("--json goes with --capture (an interactive console has no report)")


@click.command("console")
@console_options
@click.pass_context
def console(ctx: click.Context, /, as_json: bool, **values: Any) -> None:
    """Serial-over-LAN console (leave with ~. or Ctrl-]); --capture SECONDS for scripts."""
    from mewarden.cli.amt_run import Target, single_endpoint
    from mewarden.redirect.consent_flow import enable_command
    from mewarden.redirect.wire import SessionType

    options = ConsoleOptions(as_json=as_json, **values)
    check_options(options)
    target: Target = ctx.find_object(Target)  # type: ignore[assignment]
    endpoint = single_endpoint(target)
    hint = enable_command(target.host or endpoint.host, SessionType.SOL, tls=endpoint.tls)
    result = asyncio.run(run_console(endpoint, options, enable_hint=hint))
    report(result, options)
