"""Running one ``mewarden amt`` operation on one ``--host`` or a whole ``--fleet``, and printing
what came back (shared by ``cmd_amt`` and its ``amt_*`` sub-command modules)."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from mewarden.cli.amt_progress import FleetProgress
from mewarden.cli.output import render_value, renderable
from mewarden.jsonutil import dumps, to_jsonable

Operation = Callable[[Any], Awaitable[Any]]


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """What the group options resolved to (the password is read only when a command runs)."""

    host: str | None
    port: int | None
    tls: bool
    user: str
    password_file: str | None
    pin: str | None
    legacy_ciphers: bool
    timeout_s: float
    fleet: str | None
    concurrency: int


def _prompt(what: str) -> Callable[[], str] | None:
    if not sys.stdin.isatty():
        return None
    return lambda: str(click.prompt(what, hide_input=True, default="", show_default=False))


def _endpoints(target: Target) -> list[Any]:
    from mewarden.amt.client import Endpoint
    from mewarden.amt.targets import PASSWORD_ENV, load_fleet, parse_host, read_secret
    from mewarden.errors import BadInputError

    if bool(target.host) == bool(target.fleet):
        raise BadInputError("give exactly one of --host and --fleet")
    if target.fleet and target.pin:
        raise BadInputError("--pin is for one --host; put each device's pin in the fleet file")
    password = read_secret(
        env_name=PASSWORD_ENV,
        file=target.password_file,
        prompt=_prompt("AMT password"),
        what="password",
    )
    specs = load_fleet(target.fleet) if target.fleet else (parse_host(target.host or ""),)
    return [
        Endpoint(
            host=spec.host,
            port=spec.port or target.port,
            tls=target.tls,
            username=target.user,
            password=password,
            pin_sha256=spec.pin or target.pin,
            legacy_ciphers=target.legacy_ciphers,
            timeout_s=target.timeout_s,
        )
        for spec in specs
    ]


def single_endpoint(target: Target) -> Any:
    """The one ``--host`` endpoint of a command that cannot run on a fleet (a console)."""
    from mewarden.errors import BadInputError

    if target.fleet:
        raise BadInputError("this command works on one --host, not a --fleet")
    return _endpoints(target)[0]


# --- rendering -----------------------------------------------------------------------------------


def _emit(value: Any, as_json: bool, title: str) -> None:
    from mewarden.cli.output import emit

    emit(value, as_json=as_json, render=lambda out: render_value(out, value, title=title))


# --- running one operation on one host or a fleet ------------------------------------------------


async def _single(endpoint: Any, operation: Operation) -> Any:
    from mewarden.amt.client import AmtClient

    async with AmtClient(endpoint) as client:
        value = await operation(client)
    if client.observed_pin and not endpoint.pin_sha256:
        click.echo(
            f"mewarden: TLS certificate SHA-256 (pin it with --pin): {client.observed_pin}",
            err=True,
        )
    return value


async def _fleet(endpoints: list[Any], operation: Operation, concurrency: int) -> list[Any]:
    from mewarden.amt.fleet import run_fleet

    with FleetProgress(total=len(endpoints), description="AMT devices") as progress:
        return await run_fleet(
            endpoints, operation, concurrency=concurrency, on_result=progress.advance
        )


def run_operation(ctx: click.Context, operation: Operation, as_json: bool, title: str) -> None:
    target: Target = ctx.find_object(Target)  # type: ignore[assignment]
    endpoints = _endpoints(target)
    if target.fleet is None:
        _emit(asyncio.run(_single(endpoints[0], operation)), as_json, title)
        return
    started = time.perf_counter()
    results = asyncio.run(_fleet(endpoints, operation, target.concurrency))
    _report_fleet(results, as_json, title, time.perf_counter() - started)


def _report_fleet(results: list[Any], as_json: bool, title: str, elapsed: float) -> None:
    from mewarden.amt.fleet import summarize

    summary = summarize(results)
    if as_json:
        click.echo(dumps({"summary": summary, "devices": results}))
    else:
        out = Console(highlight=False)
        table = Table(title=f"{title}: {summary.succeeded}/{summary.total} ok in {elapsed:.1f} s")
        for column in ("host", "ok", "result or error"):
            table.add_column(column)
        for r in results:
            shown = renderable(to_jsonable(r.value)) if r.ok else f"{r.error_kind}: {r.error}"
            table.add_row(r.host, "yes" if r.ok else "NO", shown)
        out.print(table)
    failures = [r for r in results if not r.ok]
    if failures:
        sys.exit(failures[0].exit_code)


def done(action: Callable[[Any], Awaitable[None]], name: str) -> Operation:
    async def op(client: Any) -> dict[str, Any]:
        await action(client)
        return {name: True}

    return op
