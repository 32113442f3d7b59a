"""``mewarden amt``: talk to Intel AMT devices (one ``--host`` or a whole ``--fleet``).

The password comes from ``MEWARDEN_AMT_PASSWORD``, ``--password-file`` or a prompt, never
from argv. Every command takes ``--json``.
"""

from __future__ import annotations

import importlib
import sys
import time
from typing import Any

import click

from mewarden.cli.amt_consent import consent
from mewarden.cli.amt_console import console
from mewarden.cli.amt_kvm import kvm
from mewarden.cli.amt_run import Target, done, run_operation
from mewarden.cli.output import json_option

# --- the group -----------------------------------------------------------------------------------


@click.group()
@click.option("--host", help="AMT device host name or address (host[:port]).")
@click.option("--port", type=click.IntRange(1, 65535), help="Default 16992, or 16993 with --tls.")
@click.option("--tls", is_flag=True, help="Use TLS (port 16993) with certificate pinning.")
@click.option("--user", default="admin", show_default=True, help="AMT user name.")
@click.option(
    "--password-file",
    type=click.Path(dir_okay=False),
    help="File whose first line is the password.",
)
@click.option(
    "--pin", help="Expected TLS certificate SHA-256 (hex); without it: trust on first use."
)
@click.option("--legacy-ciphers", is_flag=True, help="Allow TLS_RSA_WITH_AES_* for old firmware.")
@click.option(
    "--timeout", "timeout_s", type=click.FloatRange(0.1, 600), default=10.0, show_default=True
)
@click.option(
    "--fleet", type=click.Path(dir_okay=False), help="File: one 'host[:port] [sha256-pin]' a line."
)
@click.option("--concurrency", type=click.IntRange(1, 10_000), default=64, show_default=True)
@click.pass_context
def command(ctx: click.Context, /, **options: Any) -> None:
    """Manage Intel AMT devices over WS-MAN (password: MEWARDEN_AMT_PASSWORD or --password-file)."""
    ctx.obj = Target(**options)


@command.command()
@json_option
@click.pass_context
def info(ctx: click.Context, as_json: bool) -> None:
    """Firmware versions, digest realm, provisioning state and power state."""
    from mewarden.amt import inventory, power, provisioning

    async def op(client: Any) -> dict[str, Any]:
        return {
            "identity": await inventory.identify(client),
            "provisioning": await provisioning.read_provisioning(client),
            "power": await power.read_power(client),
        }

    run_operation(ctx, op, as_json, "AMT device")


POWER_ACTIONS = ("status", "on", "off", "cycle", "reset", "soft-off", "soft-reset")


@command.command("power")
@click.argument("action", type=click.Choice(POWER_ACTIONS))
@click.option(
    "--force", is_flag=True, help="Send even if the device does not list the state as available."
)
@json_option
@click.pass_context
def power_cmd(ctx: click.Context, action: str, force: bool, as_json: bool) -> None:
    """Read or change power (on 2, off 8, cycle 5, reset 10, soft-off 12, soft-reset 14)."""
    from mewarden.amt import power
    from mewarden.errors import AmtUnsupportedError

    async def op(client: Any) -> Any:
        status = await power.read_power(client)
        if action == "status":
            return status
        wanted = power.PowerAction(action)
        state = wanted.power_state
        if status.available and state not in status.available and not force:
            raise AmtUnsupportedError(
                f"the device does not offer power state {int(state)} ({action}) now; "
                f"it offers {[int(s) for s in status.available]} (use --force to send anyway)"
            )
        await power.change_power(client, wanted)
        return {"requested": state, "accepted": True, "previous": status.state}

    run_operation(ctx, op, as_json, f"power {action}")


@command.command()
@click.argument("target", type=click.Choice(["pxe", "disk", "cd", "bios", "floppy"]))
@click.option("--ider", is_flag=True, help="Boot from the IDE-R CD (cd) or floppy (floppy).")
@click.option("--sol", is_flag=True, help="Redirect the BIOS console to Serial-over-LAN.")
@click.option("--no-reset", is_flag=True, help="Set the one-shot override without resetting.")
@json_option
@click.pass_context
def boot(ctx: click.Context, /, target: str, as_json: bool, **flags: bool) -> None:
    """One-shot boot override, then reset (or power on when off)."""
    from mewarden.amt.boot import BootTarget, set_boot
    from mewarden.errors import BadInputError

    ider, sol, no_reset = flags["ider"], flags["sol"], flags["no_reset"]
    if ider and target not in ("cd", "floppy"):
        raise BadInputError("--ider goes with cd or floppy")
    if target == "floppy" and not ider:
        raise BadInputError("floppy boot is only available through IDE-R: add --ider")
    chosen = BootTarget(f"ider-{target}") if ider else BootTarget(target)

    async def op(client: Any) -> Any:
        return await set_boot(client, chosen, use_sol=sol, reset=not no_reset)

    run_operation(ctx, op, as_json, f"boot {chosen}")


@command.command()
@click.option("--limit", type=click.IntRange(1, 100_000), default=1000, show_default=True)
@json_option
@click.pass_context
def events(ctx: click.Context, limit: int, as_json: bool) -> None:
    """The event log, decoded."""
    from mewarden.amt.logs import read_event_log

    run_operation(ctx, lambda c: read_event_log(c, limit=limit), as_json, "event log")


@command.command()
@click.option("--limit", type=click.IntRange(1, 100_000), default=1000, show_default=True)
@json_option
@click.pass_context
def audit(ctx: click.Context, limit: int, as_json: bool) -> None:
    """The audit log, decoded."""
    from mewarden.amt.logs import read_audit_log

    run_operation(ctx, lambda c: read_audit_log(c, limit=limit), as_json, "audit log")


@command.group()
def network() -> None:
    """Wired ethernet settings."""


@network.command("set")
@click.option("--mode", type=click.Choice(["dhcp", "static", "shared"]), required=True)
@click.option("--ip", default="")
@click.option("--mask", default="")
@click.option("--gateway", default="")
@click.option("--dns", default="")
@click.option("--dns2", default="")
@json_option
@click.pass_context
def network_set(ctx: click.Context, /, mode: str, as_json: bool, **addresses: str) -> None:
    """Switch the wired port to DHCP, a static address, or the host's address (shared)."""
    from mewarden.amt.network import AddressMode, EthernetChange, set_ethernet

    change = EthernetChange(
        mode=AddressMode(mode),
        ip_address=addresses["ip"],
        subnet_mask=addresses["mask"],
        default_gateway=addresses["gateway"],
        primary_dns=addresses["dns"],
        secondary_dns=addresses["dns2"],
    )
    run_operation(ctx, lambda c: set_ethernet(c, change), as_json, "ethernet")


@command.group()
def password() -> None:
    """The admin account's password."""


@password.command("set")
@click.option("--new-password-file", type=click.Path(dir_okay=False))
@json_option
@click.pass_context
def password_set(ctx: click.Context, new_password_file: str | None, as_json: bool) -> None:
    """Change the admin password (MEWARDEN_AMT_NEW_PASSWORD, --new-password-file or a prompt)."""
    from mewarden.amt.accounts import check_password_strength, set_admin_password
    from mewarden.amt.targets import NEW_PASSWORD_ENV, read_secret

    prompt = None
    if sys.stdin.isatty():
        prompt = lambda: str(  # noqa: E731
            click.prompt("New AMT password", hide_input=True, confirmation_prompt=True)
        )
    new = read_secret(
        env_name=NEW_PASSWORD_ENV, file=new_password_file, prompt=prompt, what="new password"
    )
    check_password_strength(new)

    async def op(client: Any) -> dict[str, Any]:
        realm = await set_admin_password(client, new, username=ctx.find_object(Target).user)  # type: ignore[union-attr]
        return {"changed": True, "digest_realm": realm}

    run_operation(ctx, op, as_json, "password")


@command.group()
def redirection() -> None:
    """SOL, IDE-R and KVM redirection."""


def _redirection_change(enable: bool, features: dict[str, bool], rfb_file: str | None) -> Any:
    from mewarden.amt.redirection import RedirectionChange
    from mewarden.amt.targets import read_secret

    chosen = {k for k, v in features.items() if v} or {"sol", "ider", "kvm"}
    rfb = None
    if rfb_file:
        rfb = read_secret(env_name="", file=rfb_file, prompt=None, what="RFB password")
    return RedirectionChange(
        sol=enable if "sol" in chosen else None,
        ider=enable if "ider" in chosen else None,
        kvm=enable if "kvm" in chosen else None,
        port_5900=enable if "port_5900" in chosen else None,
        rfb_password=rfb,
    )


def _redirection_command(enable: bool) -> click.Command:
    verb = "enable" if enable else "disable"

    @click.option("--sol", is_flag=True, help="Serial-over-LAN.")
    @click.option("--ider", is_flag=True, help="IDE redirection.")
    @click.option("--kvm", is_flag=True, help="KVM (remote desktop).")
    @click.option("--port-5900", is_flag=True, help="Plain VNC on port 5900.")
    @click.option(
        "--rfb-password-file", type=click.Path(dir_okay=False), help="8-char VNC password."
    )
    @json_option
    @click.pass_context
    def run(
        ctx: click.Context, /, as_json: bool, rfb_password_file: str | None, **features: bool
    ) -> None:
        from mewarden.amt.redirection import change_redirection

        change = _redirection_change(enable, features, rfb_password_file)
        run_operation(ctx, lambda c: change_redirection(c, change), as_json, f"redirection {verb}")

    run.__doc__ = f"{verb.capitalize()} redirection features (default: SOL, IDE-R and KVM)."
    return click.command(verb)(run)


redirection.add_command(_redirection_command(True))
redirection.add_command(_redirection_command(False))


command.add_command(consent)
command.add_command(console)
command.add_command(kvm)


@command.command("time")
@click.argument("action", type=click.Choice(["show", "sync"]))
@json_option
@click.pass_context
def time_cmd(ctx: click.Context, action: str, as_json: bool) -> None:
    """Show the AMT clock, or set it from this host's clock."""
    from mewarden.amt.timesync import read_amt_time, sync_time

    async def op(client: Any) -> Any:
        if action == "sync":
            return await sync_time(client, time.time)
        amt_time = await read_amt_time(client)
        return {"amt_time": amt_time, "skew_s": amt_time - int(time.time())}

    run_operation(ctx, op, as_json, "clock")


@command.command()
@click.option("--yes", is_flag=True, help="Confirm: AMT loses its configuration.")
@json_option
@click.pass_context
def deactivate(ctx: click.Context, yes: bool, as_json: bool) -> None:
    """Unprovision the device (full deactivation)."""
    from mewarden.amt.provisioning import unprovision
    from mewarden.errors import RefusedError

    if not yes:
        raise RefusedError("deactivation erases the AMT configuration; add --yes to confirm")
    run_operation(ctx, done(unprovision, "deactivated"), as_json, "deactivate")


@command.command("get")
@click.argument("class_name")
@click.option("--selector", "selectors", multiple=True, help="Name=Value (repeatable).")
@json_option
@click.pass_context
def get_cmd(ctx: click.Context, class_name: str, selectors: tuple[str, ...], as_json: bool) -> None:
    """Get one instance of CLASS (raw properties)."""
    from mewarden.amt.session import get
    from mewarden.amt.targets import check_class_name, parse_selectors

    name = check_class_name(class_name)
    pairs = parse_selectors(selectors)
    run_operation(ctx, lambda c: get(c, name, pairs), as_json, name)


@command.command("enumerate")
@click.argument("class_name")
@json_option
@click.pass_context
def enumerate_cmd(ctx: click.Context, class_name: str, as_json: bool) -> None:
    """Enumerate all instances of CLASS (raw properties)."""
    from mewarden.amt.session import enumerate_all
    from mewarden.amt.targets import check_class_name

    name = check_class_name(class_name)
    run_operation(ctx, lambda c: enumerate_all(c, name), as_json, name)


def _simple(group: click.Group, name: str, target: str, title: str, done_key: str = "") -> None:
    """A command that runs one library call (``module:function``) and prints its result."""

    @json_option
    @click.pass_context
    def run(ctx: click.Context, /, as_json: bool) -> None:
        module_name, _, function = target.partition(":")
        action = getattr(importlib.import_module(f"mewarden.amt.{module_name}"), function)
        run_operation(ctx, done(action, done_key) if done_key else action, as_json, title)

    run.__doc__ = _SIMPLE_HELP[target]
    group.add_command(click.command(name)(run))


_SIMPLE_HELP = {
    "inventory:read_inventory": "System, baseboard, BIOS, CPUs, memory and storage.",
    "network:read_ethernet": "Show the wired port settings (MAC, DHCP/static/shared, addresses).",
    "redirection:read_redirection": "Which redirection features are enabled.",
    "tls:read_tls_settings": "TLS settings (remote and local).",
}
_simple(command, "inventory", "inventory:read_inventory", "inventory")
_simple(network, "show", "network:read_ethernet", "ethernet")
_simple(redirection, "show", "redirection:read_redirection", "redirection")
_simple(command, "tls", "tls:read_tls_settings", "TLS settings")
