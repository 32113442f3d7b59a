"""``mewarden host amt-info | activate | deactivate``: the node's own AMT over MEI.

Registered on the ``host`` group by :mod:`mewarden.cli.cmd_host`. Passwords come from an
environment variable, a file or a prompt, never from argv.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.table import Table

from mewarden.cli.output import emit, json_option

if TYPE_CHECKING:
    from mewarden.host.activate import ActivationReport
    from mewarden.host.amtinfo import AmtInfoReport

CERT_PASSWORD_ENV = "MEWARDEN_CERT_PASSWORD"  # noqa: S105 - a variable name, not a secret

mei_option = click.option(
    "--mei",
    "mei",
    metavar="PATH",
    help="The MEI device, or an emulator's simulated endpoint (default: the /dev/meiN bound "
    "to the HECI function, as 'host probe' finds it).",
)


def _mei_path(mei: str | None) -> str:
    from mewarden.host.mei_link import check_mei_path, default_mei_path

    return check_mei_path(mei) if mei else default_mei_path()


def _prompt(what: str) -> Callable[[], str] | None:
    if not sys.stdin.isatty():
        return None
    return lambda: str(click.prompt(what, hide_input=True, default="", show_default=False))


def register(group: click.Group) -> None:
    group.add_command(amt_info_command)
    group.add_command(activate_command)
    group.add_command(deactivate_command)


@click.command(name="amt-info")
@mei_option
@json_option
def amt_info_command(mei: str | None, as_json: bool) -> None:
    """What AMT says about itself over MEI: versions, UUID, control mode, network, root hashes."""
    from mewarden.host.amtinfo import gather

    report = gather(_mei_path(mei))
    emit(report, as_json=as_json, render=lambda out: _render_info(out, report))


def _render_info(out: Console, report: AmtInfoReport) -> None:
    from mewarden.jsonutil import to_jsonable

    table = Table(show_header=False)
    table.add_column("field")
    table.add_column("value")
    data = to_jsonable(report)
    for name in (
        "amt_version",
        "build_number",
        "sku",
        "flash_version",
        "bios_version",
        "uuid",
        "control_mode",
        "provisioning_state",
        "dns_suffix",
        "hostname",
    ):
        table.add_row(name.replace("_", " "), str(data[name] if data[name] is not None else "-"))
    wired = report.wired
    if wired is not None:
        link = "up" if wired.link_up else "down"
        table.add_row("wired", f"{wired.mac_address} {wired.ipv4_address} (link {link})")
    remote = data["remote_access"]
    if remote is not None:
        table.add_row("remote access", f"{remote['status']} ({remote['network']})")
    out.print(table)
    out.print(_hash_table(report))
    for problem in report.problems:
        out.print(f"[yellow]note:[/] {problem}")


def _hash_table(report: AmtInfoReport) -> Table:
    from mewarden.jsonutil import to_jsonable

    columns = ("handle", "name", "algorithm", "hash", "default", "active")
    hashes = Table(*columns, title="trusted roots")
    for entry in report.cert_hashes:
        algorithm = to_jsonable(entry.algorithm)
        hashes.add_row(
            str(entry.handle),
            entry.name,
            str(algorithm),
            entry.hash_hex,
            "yes" if entry.is_default else "no",
            "yes" if entry.is_active else "no",
        )
    return hashes


def _lms_option(value: str) -> tuple[str, int] | None:
    from mewarden.amt.targets import parse_host

    if value == "off":
        return None
    spec = parse_host(value, where="--lms")
    return spec.host, spec.port or 16992


@click.command(name="activate")
@click.option("--mode", type=click.Choice(["ccm", "acm"]), required=True, help="Control mode.")
@click.option("--password-file", help="The new admin password (else MEWARDEN_AMT_PASSWORD).")
@click.option(
    "--cert-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="ACM: the provisioning certificate with its chain and key (PKCS#12 / .pfx).",
)
@click.option("--cert-password-file", help="The PFX password (else MEWARDEN_CERT_PASSWORD).")
@click.option(
    "--lms",
    default="127.0.0.1:16992",
    show_default=True,
    metavar="HOST:PORT|off",
    help="Where Intel LMS would listen; when nothing does, mewarden speaks LME itself.",
)
@mei_option
@json_option
def activate_command(
    *,
    mode: str,
    password_file: str | None,
    cert_file: Path | None,
    cert_password_file: str | None,
    lms: str,
    mei: str | None,
    as_json: bool,
) -> None:
    """Activate this node's AMT (pre-provisioning -> client or admin control mode)."""
    import asyncio

    from mewarden.amt.targets import PASSWORD_ENV, read_secret
    from mewarden.errors import AmtError, BadInputError
    from mewarden.host.activate import ActivationRequest, activate

    if mode == "ccm" and cert_file is not None:
        raise BadInputError("--cert-file applies only with --mode acm")
    certificate = _certificate(cert_file, cert_password_file) if mode == "acm" else None
    prompt = _prompt("new AMT password")
    password = read_secret(
        env_name=PASSWORD_ENV, file=password_file, prompt=prompt, what="password"
    )
    request = ActivationRequest(
        mode=mode,
        mei_path=_mei_path(mei),
        password=password,
        certificate=certificate,
        lms=_lms_option(lms),
    )
    report = asyncio.run(activate(request))
    emit(report, as_json=as_json, render=lambda out: _render_activation(out, report))
    if report.outcome == "partial":
        raise AmtError(f"activation is partial: {'; '.join(report.problems)}")


def _certificate(cert_file: Path | None, cert_password_file: str | None) -> Any:
    from mewarden.amt.acm_crypto import load_pfx
    from mewarden.amt.targets import read_secret
    from mewarden.errors import BadInputError
    from mewarden.fsutil import read_input_file

    if cert_file is None:
        raise BadInputError("--mode acm needs --cert-file (the provisioning certificate, .pfx)")
    data = read_input_file(str(cert_file), what="certificate file")
    secret = read_secret(
        env_name=CERT_PASSWORD_ENV,
        file=cert_password_file,
        prompt=_prompt("certificate password"),
        what="cert password",
    )
    return load_pfx(data, secret, name=str(cert_file))


def _render_activation(out: Console, report: ActivationReport) -> None:
    from mewarden.host.activate import mode_name

    for step in report.steps:
        out.print(f"  {step}")
    verb = {"partial": "[yellow]partly activated[/]", "upgraded": "upgraded"}
    out.print(
        f"AMT {verb.get(report.outcome, 'activated')}: {mode_name(report.before)} -> "
        f"{mode_name(report.after)} (over {report.channel.upper()})"
    )


@click.command(name="deactivate")
@click.option("--yes", is_flag=True, help="Confirm: AMT loses its settings and admin password.")
@mei_option
@json_option
def deactivate_command(*, yes: bool, mei: str | None, as_json: bool) -> None:
    """Return a client-control-mode AMT to pre-provisioning (local, no password)."""
    from mewarden.errors import BadInputError
    from mewarden.host.activate import mode_name
    from mewarden.host.deactivate import deactivate

    if not yes:
        raise BadInputError("deactivation erases AMT's configuration: confirm with --yes")
    report = deactivate(_mei_path(mei))
    emit(
        report,
        as_json=as_json,
        render=lambda out: out.print(
            f"AMT deactivated: {mode_name(report.before)} -> {mode_name(report.after)}"
        ),
    )
