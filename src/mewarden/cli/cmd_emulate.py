"""``mewarden emulate``: run AMT devices on loopback; ``mewarden emulate fault``: inject faults."""

from __future__ import annotations

import asyncio
import os
import signal
import tempfile
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from mewarden.cli.output import emit, json_option
from mewarden.errors import AmtUnreachableError, BadInputError

DEFAULT_CONTROL_PORT = 16990
PASSWORD_ENV = "MEWARDEN_AMT_PASSWORD"  # noqa: S105 - the variable name, not a password


@click.group(invoke_without_command=True)
@click.option(
    "--nodes",
    type=click.IntRange(1, 100_000),
    default=3,
    show_default=True,
    help="How many devices (10,000 fit in one process).",
)
@click.option("--base-ip", default="127.20.0.1", show_default=True, help="First device address.")
@click.option("--tls", is_flag=True, help="Also listen on 16993 with per-device certificates.")
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the generated password and TLS certificates are kept (default: a new temp dir).",
)
@click.option(
    "--control",
    "control_port",
    type=click.IntRange(1024, 65535),
    default=DEFAULT_CONTROL_PORT,
    show_default=True,
    help="Port of the JSON control API on 127.0.0.1.",
)
@click.option(
    "--mode",
    type=click.Choice(["ccm", "acm", "pre"]),
    default="ccm",
    show_default=True,
    help="Control mode the devices start in (pre: not provisioned).",
)
@click.option(
    "--boot-time",
    type=click.FloatRange(0, 3600),
    default=20.0,
    show_default=True,
    help="Seconds from power-on or reset until the host OS answers.",
)
@click.option(
    "--ready-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the JSON list of device addresses here once every listener accepts.",
)
@click.option(
    "--mei-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Give each device a simulated MEI endpoint DIR/<address>.sock (for 'host --mei').",
)
@click.option(
    "--trusted-root-hash",
    "trusted_root_hashes",
    multiple=True,
    metavar="HEX",
    help="A trusted root certificate hash for ACM activation (SHA-256 of the root's DER).",
)
@click.option("--pki-dns-suffix", default="", help="The devices' PKI DNS suffix (ACM activation).")
@json_option
@click.pass_context
def command(
    ctx: click.Context,
    *,
    mei_dir: Path | None,
    trusted_root_hashes: tuple[str, ...],
    pki_dns_suffix: str,
    nodes: int,
    base_ip: str,
    tls: bool,
    state_dir: Path | None,
    control_port: int,
    mode: str,
    boot_time: float,
    ready_file: Path | None,
    as_json: bool,
) -> None:
    """Emulate N Intel AMT devices on loopback addresses until interrupted."""
    if ctx.invoked_subcommand is not None:
        return
    from mewarden.emulate.mei_options import host_trust

    trust = host_trust(trusted_root_hashes, pki_dns_suffix)  # checked before anything is made
    directory = state_dir or Path(tempfile.mkdtemp(prefix="mewarden-emulate-"))
    directory.mkdir(parents=True, exist_ok=True)
    password = _password(directory)
    options = {
        "nodes": nodes,
        "base_ip": base_ip,
        "tls": tls,
        "password": password,
        "boot_time_s": boot_time,
        "state_dir": directory,
        "mode": mode,
    }
    options["host_trust"] = trust
    options["mei_dir"] = mei_dir
    asyncio.run(_serve(options, control_port, ready_file, as_json))


def _password(directory: Path) -> str:
    from mewarden.emulate.fleet import generate_password
    from mewarden.fsutil import atomic_write_text

    configured = os.environ.get(PASSWORD_ENV)
    if configured:
        return configured
    path = directory / "admin-password"
    if path.is_file():
        return path.read_text().strip()
    generated = generate_password()
    atomic_write_text(path, generated + "\n", mode=0o600)
    click.echo(f"mewarden: admin password written to {path}", err=True)
    return generated


async def _serve(
    options: dict[str, Any], control_port: int, ready_file: Path | None, as_json: bool
) -> None:
    from mewarden.emulate.control import device_summary, start_control
    from mewarden.emulate.fleet import EmulatedFleet
    from mewarden.emulate.values import ControlMode

    mode = {
        "ccm": ControlMode.CLIENT,
        "acm": ControlMode.ADMIN,
        "pre": ControlMode.PRE_PROVISIONING,
    }
    options["mode"] = mode[options["mode"]]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    from mewarden.emulate.mei_options import optional_mei_endpoints

    mei_dir = options.pop("mei_dir")
    async with (
        EmulatedFleet.start(**options) as fleet,
        optional_mei_endpoints(fleet, mei_dir) as mei,
    ):
        try:
            control = await start_control(fleet, control_port)
        except OSError as exc:
            raise BadInputError(
                f"cannot serve the control API on 127.0.0.1:{control_port}: {exc.strerror}"
            ) from None
        if ready_file is not None:
            fleet.write_ready_file(ready_file)
        summaries = [device_summary(d) for d in fleet.devices[:1000]]
        report = {
            "nodes": len(fleet.devices),
            "listen_mode": fleet.listen_mode,
            "control": f"http://127.0.0.1:{control_port}",
            "state_dir": str(options["state_dir"]),
            "devices": summaries,
            "mei_dir": str(mei.directory) if mei is not None else None,
        }
        emit(report, as_json=as_json, render=lambda c: _render(c, report))
        await stop.wait()
        control.close()


def _render(console: Console, report: dict[str, Any]) -> None:
    table = Table(title=f"{report['nodes']} emulated AMT devices ({report['listen_mode']})")
    for column in ("address", "uuid", "realm", "mac"):
        table.add_column(column)
    for device in report["devices"][:20]:
        table.add_row(device["address"], device["uuid"], device["realm"], device["mac"])
    console.print(table)
    console.print(f"control API: {report['control']}  state dir: {report['state_dir']}")
    console.print("press Ctrl-C to stop")


@command.command("fault")
@click.argument("host")
@click.argument("kind")
@click.option(
    "--control", "control_port", type=int, default=DEFAULT_CONTROL_PORT, show_default=True
)
@json_option
def fault_command(host: str, kind: str, *, control_port: int, as_json: bool) -> None:
    """Inject fault KIND into the device at HOST ('clear' removes every fault)."""
    import httpx

    from mewarden.emulate.device import FaultKind

    url = f"http://127.0.0.1:{control_port}/devices/{host}/faults"
    try:
        if kind == "clear":
            response = httpx.delete(url, timeout=10)
        else:
            FaultKind.parse(kind)
            response = httpx.post(url, json={"kind": kind}, timeout=10)
    except httpx.TransportError:
        raise AmtUnreachableError(
            f"no emulator control API answers on 127.0.0.1:{control_port}"
        ) from None
    payload = response.json()
    if response.status_code != 200:
        raise BadInputError(str(payload.get("error", f"HTTP {response.status_code}")))
    emit(
        payload,
        as_json=as_json,
        render=lambda c: c.print(f"{host}: faults now {', '.join(payload['faults']) or 'none'}"),
    )
