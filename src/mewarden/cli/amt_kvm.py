"""``mewarden amt kvm``: the managed screen through any VNC viewer (a local RFB bridge), one
screenshot, and the KVM settings AMT keeps."""

from __future__ import annotations

import asyncio
import ipaddress
import secrets
import string
import sys
from dataclasses import dataclass
from typing import Any

import click

from mewarden.cli.amt_run import Target, run_operation
from mewarden.cli.output import json_option

VNC_PASSWORD_ENV = "MEWARDEN_VNC_PASSWORD"  # noqa: S105 - a variable name
RFB_PASSWORD_ENV = "MEWARDEN_RFB_PASSWORD"  # noqa: S105 - a variable name
GENERATED_LENGTH = 8  # VNC authentication uses at most 8 characters


def parse_listen(text: str, *, allow_remote: bool) -> tuple[str, int]:
    """``host:port`` for the bridge (port 0 picks a free one); BadInputError for a non-loopback
    host without permission."""
    from mewarden.errors import BadInputError

    host, sep, port_text = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port_text.isdigit() or int(port_text) > 65535:
        raise BadInputError(f"--listen {text!r}: give host:port (e.g. 127.0.0.1:5901)")
    if not allow_remote and not _is_loopback(host):
        raise BadInputError(
            f"--listen {host} is not a loopback address: anyone who reaches it sees the "
            "managed screen; add --allow-remote to listen there anyway"
        )
    return host, int(port_text)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def vnc_password(password_file: str | None) -> tuple[Any, bool]:
    """The local VNC password and whether it was generated (then it is printed once)."""
    from mewarden.amt.targets import read_secret
    from mewarden.errors import BadInputError
    from mewarden.secret import Secret

    try:
        return read_secret(
            env_name=VNC_PASSWORD_ENV, file=password_file, prompt=None, what="VNC password"
        ), False
    except BadInputError:
        if password_file:
            raise
    alphabet = string.ascii_letters + string.digits
    return Secret("".join(secrets.choice(alphabet) for _ in range(GENERATED_LENGTH))), True


def _endpoint(ctx: click.Context) -> Any:
    from mewarden.cli.amt_run import single_endpoint

    target: Target = ctx.find_object(Target)  # type: ignore[assignment]
    return single_endpoint(target)


async def _prepare(endpoint: Any) -> Any:
    """KVM enabled? Consent (asks for the code on the managed screen where required)."""
    from mewarden.amt.client import AmtClient
    from mewarden.amt.kvm import require_kvm
    from mewarden.cli.amt_console import consent_prompt
    from mewarden.redirect.consent_flow import ensure_consent
    from mewarden.redirect.wire import SessionType

    async with AmtClient(endpoint) as client:
        settings = await require_kvm(client, endpoint)
        await ensure_consent(client, SessionType.KVM, consent_prompt)
    return settings


@dataclass(frozen=True, slots=True, kw_only=True)
class BridgeOptions:
    """What ``amt kvm`` and ``node kvm`` take for the bridge."""

    listen: str
    allow_remote: bool = False
    vnc_password_file: str | None = None
    colour_bits: int = 16
    once: bool = False
    as_json: bool = False


def bridge_options(func: Any) -> Any:
    """The bridge's options, shared by ``amt kvm`` and ``node kvm``."""
    options = [
        click.option(
            "--listen", help="host:port of the local VNC bridge (loopback; port 0 picks one)."
        ),
        click.option("--allow-remote", is_flag=True, help="Allow a non-loopback --listen address."),
        click.option(
            "--vnc-password-file",
            type=click.Path(dir_okay=False),
            help=f"Local VNC password (else {VNC_PASSWORD_ENV}, else generated and printed once).",
        ),
        click.option(
            "--colour",
            "colour_bits",
            type=click.Choice(["16", "8"]),
            default="16",
            show_default=True,
            help="Colour depth asked of AMT (viewers always get 32-bit).",
        ),
        click.option("--once", is_flag=True, help="Stop after the first viewer leaves."),
        json_option,
    ]
    for option in reversed(options):
        func = option(func)
    return func


@click.group(invoke_without_command=True)
@bridge_options
@click.pass_context
def kvm(ctx: click.Context, /, *, listen: str | None, colour_bits: str, **values: Any) -> None:
    """The managed screen in any VNC viewer: --listen runs a local RFB bridge to AMT's KVM."""
    from mewarden.errors import BadInputError

    if ctx.invoked_subcommand is not None:
        return
    if listen is None:
        raise BadInputError("give --listen 127.0.0.1:PORT, or a sub-command (screenshot, settings)")
    options = BridgeOptions(listen=listen, colour_bits=int(colour_bits), **values)
    checked = check_bridge(options)
    endpoint = _endpoint(ctx)
    asyncio.run(run_kvm_bridge(endpoint, options, checked))


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckedBridge:
    host: str
    port: int
    password: Any
    generated: bool


def check_bridge(options: BridgeOptions) -> CheckedBridge:
    """Everything about the local side, before any network (bad input: one line, exit 2)."""
    host, port = parse_listen(options.listen, allow_remote=options.allow_remote)
    password, generated = vnc_password(options.vnc_password_file)
    return CheckedBridge(host=host, port=port, password=password, generated=generated)


def _announcer(endpoint: Any, options: BridgeOptions, checked: CheckedBridge) -> Any:
    """What to print once the bridge listens (the generated password first, on stderr)."""
    from mewarden.jsonutil import dumps

    def listening(bound_host: str, bound_port: int) -> None:
        if checked.generated:
            shown = checked.password.reveal()
            click.echo(f"mewarden: VNC password (shown once): {shown}", err=True)
        where = {"listen": f"{bound_host}:{bound_port}", "device": endpoint.host}
        if options.as_json:
            click.echo(dumps(where, indent=None))
        else:
            click.echo(f"KVM of {endpoint.host}: point a VNC viewer at {bound_host}:{bound_port}")
        sys.stdout.flush()

    return listening


def _failed(exc: BaseException) -> None:
    click.echo(f"mewarden: viewer session ended: {exc}", err=True)


async def run_kvm_bridge(endpoint: Any, options: BridgeOptions, checked: CheckedBridge) -> Any:
    """Check KVM and consent, then serve viewers; returns the bridge's statistics (with the
    certificate pin seen on first use, for ``node kvm`` to keep)."""
    from mewarden.redirect.kvm_bridge import run_bridge
    from mewarden.redirect.kvm_screen import open_kvm

    await _prepare(endpoint)
    pins: list[str] = []

    async def opener() -> Any:
        stream = await open_kvm(endpoint)
        if stream.observed_pin and not endpoint.pin_sha256 and stream.observed_pin not in pins:
            pins.append(stream.observed_pin)
            click.echo(
                f"mewarden: TLS certificate SHA-256 (pin it with --pin): {stream.observed_pin}",
                err=True,
            )
        return stream

    stats = await run_bridge(
        checked.host,
        checked.port,
        opener=opener,
        password=checked.password,
        colour_bits=options.colour_bits,
        timeout_s=endpoint.timeout_s,
        on_listening=_announcer(endpoint, options, checked),
        on_error=_failed,
        once=options.once,
    )
    stats.observed_pin = pins[0] if pins else None
    return stats


async def take_screenshot(endpoint: Any, output: str) -> dict[str, Any]:
    """Consent where needed, one frame, the PNG written atomically; what to report."""
    from mewarden.fsutil import atomic_write_bytes
    from mewarden.redirect.kvm_screen import grab_frame, png_bytes

    await _prepare(endpoint)
    grab = await grab_frame(endpoint, timeout_s=endpoint.timeout_s)
    png = png_bytes(grab.frame)
    atomic_write_bytes(output, png)
    height, width = grab.frame.shape[:2]
    return {
        "file": output,
        "bytes": len(png),
        "width": width,
        "height": height,
        "device": endpoint.host,
        "observed_pin": grab.observed_pin,
    }


def report_screenshot(result: dict[str, Any], as_json: bool) -> None:
    from mewarden.cli.output import emit

    def render(out: Any) -> None:
        out.print(f"saved {result['file']} ({result['width']}x{result['height']})")

    emit(result, as_json=as_json, render=render)


@kvm.command("screenshot")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="PNG file.")
@json_option
@click.pass_context
def screenshot(ctx: click.Context, output: str, as_json: bool) -> None:
    """Save one frame of the managed screen as a PNG (written atomically)."""
    endpoint = _endpoint(ctx)
    report_screenshot(asyncio.run(take_screenshot(endpoint, output)), as_json)


@kvm.command("settings")
@click.option("--port-5900", type=click.Choice(["on", "off"]), help="Plain VNC on port 5900.")
@click.option(
    "--rfb-password-file",
    type=click.Path(dir_okay=False),
    help="Set the 8-character RFB (port 5900) password from this file.",
)
@click.option(
    "--set-rfb-password", is_flag=True, help=f"Set the RFB password from {RFB_PASSWORD_ENV}."
)
@click.option("--opt-in/--no-opt-in", default=None, help="Whether 5900 sessions need consent.")
@click.option("--session-timeout", type=click.IntRange(0, 65535), help="Minutes.")
@json_option
@click.pass_context
def settings(
    ctx: click.Context,
    /,
    *,
    port_5900: str | None,
    rfb_password_file: str | None,
    set_rfb_password: bool,
    opt_in: bool | None,
    session_timeout: int | None,
    as_json: bool,
) -> None:
    """Show (and, with options, set) the KVM settings AMT keeps."""
    from mewarden.amt.kvm import KvmSettingsChange, change_kvm_settings, check_rfb_password
    from mewarden.amt.targets import read_secret

    rfb = None
    if rfb_password_file or set_rfb_password:
        rfb = check_rfb_password(
            read_secret(
                env_name=RFB_PASSWORD_ENV, file=rfb_password_file, prompt=None, what="RFB password"
            )
        )
    change = KvmSettingsChange(
        port_5900=None if port_5900 is None else port_5900 == "on",
        rfb_password=rfb,
        opt_in_policy=opt_in,
        session_timeout_min=session_timeout,
    )
    run_operation(ctx, lambda c: change_kvm_settings(c, change), as_json, "KVM settings")
