"""``mewarden host``: the live ME state of this node (``probe``) and captured trees (``record``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.table import Table

from mewarden.cli.output import emit, json_option

if TYPE_CHECKING:
    from mewarden.host.agent import HeartbeatReport, HeartbeatSender, NodeKey


@click.group(name="host")
def command() -> None:
    """Read the ME state of this node from the node itself."""


@command.command(name="probe")
@click.option(
    "--root",
    "root",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Probe a recorded tree (from 'mewarden host record') instead of the live system.",
)
@click.option(
    "--mei",
    metavar="PATH",
    help="Ask AMT over this MEI device or emulator endpoint instead of the HECI function's.",
)
@json_option
def probe_command(root: Path | None, mei: str | None, as_json: bool) -> None:
    """Report the ME verdict, Boot Guard and AMT state, with the evidence for each.

    Reads /sys (HECI PCI function, /sys/class/mei), /dev/cpu/0/msr and the /dev/meiN bound to
    that function. Runs without root, but then cannot read PCI config space, the Boot Guard MSR
    or MEI: the verdict says so.
    """
    from mewarden.host.probe import probe
    from mewarden.host.sysfs import open_tree

    transports = None
    if mei is not None:
        from mewarden.host.mei_link import check_mei_path, transport_factory

        transports = transport_factory(check_mei_path(mei))
    report = probe(open_tree(root if root is not None else "/"), transports)

    def render(console: Console) -> None:
        table = Table(show_header=True, header_style="bold")
        table.add_column("question")
        table.add_column("answer")
        table.add_column("evidence")
        table.add_row("ME", report.verdict.value, "\n".join(report.verdict_evidence))
        table.add_row("Boot Guard", report.boot_guard.value, "\n".join(report.boot_guard_evidence))
        table.add_row("AMT", report.amt.value, "\n".join(report.amt_evidence))
        console.print(table)
        if report.heci is not None:
            heci = report.heci
            console.print(
                f"HECI {heci.address} [8086:{heci.device}] {heci.platform or 'unknown platform'}"
                f" ({heci.generation or 'generation unknown'}), firmware "
                f"{report.firmware_version or 'version unknown'}"
            )
        for problem in report.problems:
            console.print(f"[yellow]note:[/] {problem}")

    emit(report, as_json=as_json, render=render)


@command.command(name="record")
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False))
@click.option(
    "--root",
    "root",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Record from a tree instead of the live system (to re-record or trim a tree).",
)
@click.option(
    "--mei",
    metavar="PATH",
    help="Record the MEI exchanges with this device or emulator endpoint.",
)
@json_option
def record_command(directory: Path, root: Path | None, mei: str | None, as_json: bool) -> None:
    """Capture what 'host probe' reads into DIRECTORY (a new or empty directory)."""
    from mewarden.host.record import record
    from mewarden.host.sysfs import open_tree

    transports = None
    if mei is not None:
        from mewarden.host.mei_link import check_mei_path, transport_factory

        transports = transport_factory(check_mei_path(mei))
    summary = record(open_tree(root if root is not None else "/"), directory, transports)

    def render(console: Console) -> None:
        console.print(
            f"recorded {len(summary.files)} files and {summary.mei_sessions} MEI sessions "
            f"into {summary.directory}"
        )
        for path in summary.denied:
            console.print(f"[yellow]not readable:[/] /{path}")

    emit(summary, as_json=as_json, render=render)


@command.command(name="agent")
@click.option(
    "--listen",
    default="0.0.0.0:9100",
    show_default=True,
    metavar="HOST:PORT",
    help="Answer the heal controller's GET /healthz here.",
)
@click.option(
    "--reenroll-file",
    type=click.Path(path_type=Path),
    default="/var/lib/mewarden/reenroll-count",
    show_default=True,
    help="The integer this node's provisioning increments on every re-enrolment.",
)
@click.option(
    "--heartbeat-to",
    metavar="HOST:PORT",
    help="Push signed heartbeats to this controller ('heal run --heartbeat-listen').",
)
@click.option(
    "--key-file",
    type=click.Path(path_type=Path),
    help="This node's key file ('mewarden heal heartbeat-key'); also names the node.",
)
@click.option(
    "--heartbeat-interval",
    type=click.FloatRange(0.1, 3600),
    default=30.0,
    show_default=True,
    help="Seconds between heartbeats (each varies by up to 10%).",
)
@click.option("--heartbeat-timeout", type=click.FloatRange(0.1, 60), default=5.0, show_default=True)
@click.option("--once", is_flag=True, help="Send one heartbeat, report it and exit.")
@json_option
def agent_command(
    *,
    listen: str,
    reenroll_file: Path,
    heartbeat_to: str | None,
    key_file: Path | None,
    heartbeat_interval: float,
    heartbeat_timeout: float,
    once: bool,
    as_json: bool,
) -> None:
    """Run this node's host agent until SIGTERM/SIGINT: answer GET /healthz for the heal
    controller and, with --heartbeat-to and --key-file, push signed heartbeats."""
    import asyncio
    import socket

    from mewarden.errors import BadInputError
    from mewarden.host import agent
    from mewarden.host.health import DEFAULT_PORT, parse_address

    if heartbeat_to is not None and key_file is None:
        raise BadInputError("--heartbeat-to needs --key-file (the node's heartbeat key)")
    if once and heartbeat_to is None:
        raise BadInputError("--once sends one heartbeat: it needs --heartbeat-to and --key-file")
    if as_json and not once:
        raise BadInputError("--json applies only with --once (the daemon prints nothing)")
    address = parse_address(listen, option="--listen", default_port=DEFAULT_PORT, any_port=True)
    key = agent.load_key_file(key_file) if key_file is not None else None
    sender = _sender(heartbeat_to, key, heartbeat_timeout)
    if once:
        assert sender is not None
        report = asyncio.run(sender.send_once())
        emit(report, as_json=as_json, render=lambda out: out.print(_accepted(report)))
        return
    node = key.node if key is not None else socket.gethostname()
    server = agent.HealthServer(node, agent.ReenrollFile(reenroll_file))
    asyncio.run(agent.run_agent(server, address, sender, interval_s=heartbeat_interval))


def _sender(
    heartbeat_to: str | None, key: NodeKey | None, timeout_s: float
) -> HeartbeatSender | None:
    from mewarden.host.agent import HeartbeatSender
    from mewarden.host.health import parse_address

    if heartbeat_to is None or key is None:
        return None
    host, port = parse_address(heartbeat_to, option="--heartbeat-to", default_port=-1)
    return HeartbeatSender(key, host, port, timeout_s=timeout_s)


def _accepted(report: HeartbeatReport) -> str:
    return (
        f"{report.node}: heartbeat {report.counter} accepted by {report.controller} "
        f"(HTTP {report.status})"
    )


def _register_amt_commands() -> None:
    from mewarden.cli import host_amt

    host_amt.register(command)


_register_amt_commands()


def _register_flash_commands() -> None:
    from mewarden.cli.host_neutralize import neutralize_command, restore_command

    command.add_command(neutralize_command)
    command.add_command(restore_command)


_register_flash_commands()
