"""``mewarden heal``: the self-healing controller (once, run) and its kill switch (pause, resume).

Several replicas may run against one PostgreSQL database: each node is acted on only by the
controller holding its lease (see docs/heal.md). AMT passwords come from the org vault.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import signal
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from mewarden.cli.cmd_org import OrgAccess, org_options
from mewarden.cli.output import emit, json_option

if TYPE_CHECKING:
    from mewarden.heal.controller import Controller, TickReport
    from mewarden.policy.settings import HealSettings
    from mewarden.secret import Secret
    from mewarden.state.store import Store

F = TypeVar("F", bound=Callable[..., Any])


@click.group(name="heal")
def command() -> None:
    """Detect failed use-policy nodes and heal them through AMT (power cycle, PXE, quarantine)."""


def load_settings(path: str | None) -> HealSettings:
    """Defaults, or a JSON object of HealSettings fields; one-line ConfigError when wrong."""
    from mewarden.errors import ConfigError
    from mewarden.fsutil import read_input_file
    from mewarden.policy.settings import HealSettings

    if path is None:
        return HealSettings()
    try:
        data = json.loads(read_input_file(path, what="heal settings file"))
    except ValueError:
        raise ConfigError(f"{path}: not valid JSON") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a JSON object of heal settings")
    try:
        return HealSettings(**data)
    except TypeError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def _vault_credentials(org: OrgAccess, store: Store) -> Callable[[str], Secret]:
    from mewarden.crypto.vault import unseal
    from mewarden.state.models import Purpose

    key = org.key(store)

    def password(node: str) -> Secret:
        _user, sealed = store.credential(node, Purpose.AMT_ADMIN.value)
        return unseal(key, sealed, node=node, purpose=Purpose.AMT_ADMIN.value)

    return password


def _heartbeat_keys(org: OrgAccess, store: Store) -> Callable[[str], bytes | None]:
    from mewarden.crypto.vault import unseal
    from mewarden.errors import MewardenError
    from mewarden.heal.heartbeat import KEY_BYTES, PURPOSE

    key = org.key(store)

    def heartbeat_key(node: str) -> bytes | None:
        try:
            _user, sealed = store.credential(node, PURPOSE)
            raw = bytes.fromhex(unseal(key, sealed, node=node, purpose=PURPOSE).reveal())
        except (MewardenError, ValueError):  # no such node or key: the request is refused
            return None
        return raw if len(raw) == KEY_BYTES else None

    return heartbeat_key


def _listen_address(text: str) -> tuple[str, int]:
    from mewarden.errors import BadInputError
    from mewarden.heal.agent import split_address

    try:
        host, port = split_address(text, -1)
    except ValueError:
        port = -1
    if not 0 < port < 65536:
        raise BadInputError(f"--heartbeat-listen {text!r}: expected HOST:PORT")
    return host, port


def build_controller(
    org: OrgAccess,
    *,
    settings_file: str | None,
    owner: str | None,
    timeout: float,
    dry_run: bool,
    lease_ttl: float = 30.0,
    healthy_poll: float = 0.0,
    claims_per_tick: int | None = None,
    check_amt: bool = False,
    console_evidence: float = 3.0,
) -> Controller:
    """A controller over the org database, with vault credentials."""
    from mewarden.heal.controller import Controller, ControllerOptions
    from mewarden.heal.probe import NodeIo
    from mewarden.state.store import Store

    settings = load_settings(settings_file)
    name = owner or f"{socket.gethostname()}:{os.getpid()}"
    store = Store(org.store().engine, actor=f"heal:{name}")
    from mewarden.heal.ider import IderReprovisioner

    ider = IderReprovisioner(timeout_s=settings.reprovision_timeout_s)
    io = NodeIo(_vault_credentials(org, store), timeout_s=timeout, ider=ider)
    options = ControllerOptions(
        owner=name,
        dry_run=dry_run,
        lease_ttl_s=lease_ttl,
        healthy_poll_s=healthy_poll,
        claims_per_tick=claims_per_tick,
        check_every_amt=check_amt,
        console_evidence_s=0.0 if dry_run else console_evidence,
    )
    return Controller(store, io, settings, options)


def controller_options(func: F) -> F:
    """--settings, --owner, --timeout, --dry-run."""

    @click.option("--settings", "settings_file", type=click.Path(dir_okay=False))
    @click.option("--owner", help="Controller id (default host:pid); unique per replica.")
    @click.option("--timeout", type=click.FloatRange(0.05, 60), default=2.0, show_default=True)
    @click.option("--dry-run", is_flag=True, help="Observe and decide; act on nothing.")
    @click.option(
        "--console-evidence",
        type=click.FloatRange(0, 60),
        default=3.0,
        show_default=True,
        help="Seconds of console kept as evidence when a node is quarantined (0: none).",
    )
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _render_tick(report: TickReport) -> Callable[[Any], None]:
    def render(out: Any) -> None:
        from rich.table import Table

        if report.paused:
            out.print("healing is paused (mewarden heal resume)")
            return
        table = Table("node", "phase", "event", "action", "result", "reason")
        for step in report.steps:
            action = step.action.value if step.action else ""
            table.add_row(
                step.node, step.phase.value, step.event or "", action, step.result, step.reason
            )
        out.print(table)
        out.print(f"{report.leases} node lease(s) held")

    return render


@command.command("once")
@controller_options
@click.option(
    "--check-amt",
    is_flag=True,
    help="Also read the AMT of every live host (heal run spreads these checks over "
    "amt_check_interval_s; a single pass otherwise reads none).",
)
@org_options
@json_option
def once(org: OrgAccess, as_json: bool, **opts: Any) -> None:
    """One pass over the nodes this controller can lease."""

    async def one() -> TickReport:
        ctl = build_controller(org, **opts)
        try:
            return await ctl.tick()
        finally:
            await ctl.close()

    report = asyncio.run(one())
    emit(report, as_json=as_json, render=_render_tick(report))


@command.command("run")
@controller_options
@click.option("--interval", type=click.FloatRange(0.05, 3600), default=10.0, show_default=True)
@click.option("--max-ticks", type=click.IntRange(1), help="Stop after this many passes.")
@click.option("--lease-ttl", type=click.FloatRange(1, 3600), default=30.0, show_default=True)
@click.option(
    "--healthy-poll",
    type=click.FloatRange(0, 3600),
    default=0.0,
    help="Re-probe healthy nodes only this often (seconds; 0: every pass).",
)
@click.option(
    "--claims-per-tick", type=click.IntRange(1), help="New node leases per pass (replicas share)."
)
@click.option("--metrics-port", type=click.IntRange(1, 65535), help="Serve /metrics on loopback.")
@click.option("--log-json", is_flag=True, help="Logs as JSON lines on stderr.")
@click.option(
    "--heartbeat-listen",
    metavar="HOST:PORT",
    help="Receive nodes' signed heartbeats (POST /heartbeat) here.",
)
@org_options
def run(
    org: OrgAccess,
    interval: float,
    max_ticks: int | None,
    metrics_port: int | None,
    log_json: bool,
    **opts: Any,
) -> None:
    """Run the controller until interrupted (SIGINT/SIGTERM end it and release the leases)."""
    from mewarden.errors import BadInputError
    from mewarden.heal.heartbeat_receiver import HeartbeatReceiver
    from mewarden.log import configure_logging

    heartbeat_listen = opts.pop("heartbeat_listen")
    listen = _listen_address(heartbeat_listen) if heartbeat_listen else None

    if interval >= opts["lease_ttl"]:
        raise BadInputError(
            f"--interval ({interval:g} s) must be shorter than --lease-ttl "
            f"({opts['lease_ttl']:g} s): leases would expire between passes"
        )
    configure_logging(level="info", json_lines=log_json)

    async def loop() -> None:
        ctl = build_controller(org, **opts)
        if metrics_port is not None:
            ctl.metrics.serve(metrics_port)
        server = None
        if listen is not None:
            keys = _heartbeat_keys(org, ctl.store)
            receiver = HeartbeatReceiver(ctl.store, keys, clock=ctl.clock, metrics=ctl.metrics)
            server = await receiver.serve(*listen)
        running = asyncio.create_task(ctl.run(interval_s=interval, max_ticks=max_ticks))
        # SIGTERM (systemd, Kubernetes) stops like SIGINT: cancel, then give the leases back
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, running.cancel)
        try:
            with contextlib.suppress(asyncio.CancelledError):
                await running
        finally:
            if server is not None:
                server.close()
            await ctl.close()

    asyncio.run(loop())


@command.command("heartbeat-key")
@click.argument("node")
@click.option(
    "-o", "--output", required=True, type=click.Path(dir_okay=False), help="Key file (0600)."
)
@org_options
@json_option
def heartbeat_key(org: OrgAccess, node: str, output: str, as_json: bool) -> None:
    """Create NODE's heartbeat key: sealed in the vault, and written to a 0600 file for the
    node's heartbeat sender (a new key replaces the old one at once)."""
    from mewarden.crypto.vault import seal
    from mewarden.fsutil import atomic_write_text
    from mewarden.heal import heartbeat
    from mewarden.secret import Secret

    store = org.store()
    store.node(node)  # NodeNotFoundError for an unknown name, before anything is written
    org_key = org.key(store)
    raw = os.urandom(heartbeat.KEY_BYTES)
    sealed = seal(org_key, Secret(raw.hex()), node=node, purpose=heartbeat.PURPOSE)
    atomic_write_text(output, heartbeat.key_file_text(node, raw), mode=0o600)
    store.put_credential(node, heartbeat.PURPOSE, heartbeat.PURPOSE, sealed)
    result = {"node": node, "file": output, "purpose": heartbeat.PURPOSE}
    emit(result, as_json=as_json, render=lambda out: out.print(f"{node}: key written to {output}"))


@command.command("pause")
@click.option("--reason", default="paused by an operator", show_default=True)
@org_options
@json_option
def pause(org: OrgAccess, reason: str, as_json: bool) -> None:
    """Engage the kill switch: every controller stops acting at its next pass."""
    from mewarden.state import heal_store

    changed = heal_store.set_paused(org.store(), reason=reason)
    result = {"paused": True, "changed": changed}
    emit(result, as_json=as_json, render=lambda out: out.print("healing paused"))


@command.command("resume")
@org_options
@json_option
def resume(org: OrgAccess, as_json: bool) -> None:
    """Release the kill switch."""
    from mewarden.state import heal_store

    changed = heal_store.clear_paused(org.store())
    result = {"paused": False, "changed": changed}
    emit(result, as_json=as_json, render=lambda out: out.print("healing resumed"))


@command.command("reset")
@click.argument("node")
@click.option("--reason", default="reset by an operator", show_default=True)
@org_options
@json_option
def reset(org: OrgAccess, node: str, reason: str, as_json: bool) -> None:
    """End a node's incident (e.g. take it out of quarantine after a repair): healthy again.

    The node's lease is dropped, so a running controller reloads it instead of overwriting.
    """
    from mewarden.errors import StateError
    from mewarden.heal.records import NodeRecord, record_from_json, record_to_json
    from mewarden.policy.ladder import Incident
    from mewarden.state import heal_store

    store = org.store()
    store.node(node)  # NodeNotFoundError for an unknown name
    stored = heal_store.load_incidents(store, [node]).get(node)
    if stored is None:
        raise StateError(f"node {node!r} has no heal incident to reset")
    number = record_from_json(stored).incident.number
    body = record_to_json(NodeRecord(incident=Incident(number=number)))
    before = heal_store.reset_incident(store, node, body=body, reason=reason)
    result = {"node": node, "was": before, "phase": "healthy"}
    emit(result, as_json=as_json, render=lambda out: out.print(f"{node}: {before} -> healthy"))


@command.command("status")
@org_options
@json_option
def status(org: OrgAccess, as_json: bool) -> None:
    """The kill switch and every node's ladder phase."""
    from mewarden.heal.records import record_from_json
    from mewarden.state import heal_store

    store = org.store()
    records = {n: record_from_json(b) for n, b in heal_store.load_incidents(store).items()}
    result = {
        "paused": heal_store.paused(store),
        "incidents": {n: r.incident for n, r in sorted(records.items())},
    }

    def render(out: Any) -> None:
        from rich.table import Table

        out.print("paused" if result["paused"] else "running")
        table = Table("node", "phase", "incident", "cycles", "pxes", "fault")
        for name, rec in sorted(records.items()):
            inc = rec.incident
            fault = inc.fault.value if inc.fault else ""
            table.add_row(
                name, inc.phase.value, str(inc.number), str(inc.cycles), str(inc.pxes), fault
            )
        out.print(table)

    emit(result, as_json=as_json, render=render)


def _add_reprovision() -> None:
    from mewarden.cli import heal_reprovision

    command.add_command(heal_reprovision.command)


_add_reprovision()
