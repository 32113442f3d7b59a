"""``mewarden amt ider``: serve a local ISO (or floppy image) as the device's CD over IDE-R.

WS-MAN first says whether IDE-R and the redirection listener are enabled (else the error names
the enabling command); the image is opened read-only and, for a CD, checked as a BIOS would
read it; then the session opens on 16994 (16995 with ``--tls``, pinned to the certificate
WS-MAN saw). ``--boot`` sets a one-shot boot from the IDE-R CD (or floppy) and resets the host.
Progress (bytes served) goes to stderr on a terminal; the session ends cleanly when the host
ejects the CD, resets after reading from it, or on Ctrl-C; ``--json`` prints the summary.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import signal
import sys
from typing import Any

import click

from mewarden.cli.output import emit, json_option


async def pinned_for_ider(endpoint: Any, enable_hint: str) -> Any:
    """Check IDE-R is enabled (any power state) and pin TLS to what WS-MAN saw."""
    from mewarden.amt.client import AmtClient
    from mewarden.redirect.consent_flow import check_ready
    from mewarden.redirect.wire import SessionType

    async with AmtClient(endpoint) as client:
        await check_ready(
            client, SessionType.IDER, host=endpoint.host, enable_hint=enable_hint, allow_off=True
        )
        seen = client.observed_pin
    if endpoint.tls and not endpoint.pin_sha256 and seen:
        return dataclasses.replace(endpoint, pin_sha256=seen)
    return endpoint


def _progress_line(enabled: bool) -> Any:
    shown = {"bytes": -1}

    def show(target: Any) -> None:
        if not enabled or target.bytes_served == shown["bytes"]:
            return
        shown["bytes"] = target.bytes_served
        mib = target.bytes_served / (1 << 20)
        sys.stderr.write(f"\rIDER: {mib:8.1f} MiB served, {target.commands} commands")
        sys.stderr.flush()

    return show


async def run_ider(
    endpoint: Any, image: str, *, floppy: bool, boot: bool, enable_hint: str, show: bool
) -> Any:
    """Check, open, serve until an end; the :class:`~mewarden.ider.serve.IderSummary`."""
    from mewarden.amt.boot import BootTarget, set_boot
    from mewarden.amt.client import AmtClient
    from mewarden.ider.medium import check_cd, open_medium
    from mewarden.ider.serve import serve_image

    with open_medium(image, floppy=floppy) as medium:
        if not floppy:
            check_cd(medium)
        pinned = await pinned_for_ider(endpoint, enable_hint)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signal.SIGINT, stop.set)
        try:
            async with AmtClient(pinned) as client:
                target = BootTarget.IDER_FLOPPY if floppy else BootTarget.IDER_CD

                async def start_boot() -> None:
                    await set_boot(client, target, reset=True)

                return await serve_image(
                    pinned,
                    medium,
                    floppy=floppy,
                    boot=start_boot if boot else None,
                    progress=_progress_line(show),
                    stop=stop,
                    enable_hint=enable_hint,
                )
        finally:
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(signal.SIGINT)
            if show:
                sys.stderr.write("\n")


@click.command("ider")
@click.option(
    "--image", required=True, type=click.Path(dir_okay=False), help="ISO (or floppy) image."
)
@click.option("--floppy", is_flag=True, help="Serve the image as a floppy (512-byte sectors).")
@click.option("--boot", is_flag=True, help="One-shot boot from the IDE-R device, then reset.")
@json_option
@click.pass_context
def ider(ctx: click.Context, /, image: str, floppy: bool, boot: bool, as_json: bool) -> None:
    """Serve a local image, read-only, as the device's CD-ROM (or floppy) over IDE-R."""
    from mewarden.cli.amt_run import Target, single_endpoint
    from mewarden.redirect.consent_flow import enable_command
    from mewarden.redirect.wire import SessionType

    target: Target = ctx.find_object(Target)  # type: ignore[assignment]
    endpoint = single_endpoint(target)
    hint = enable_command(target.host or endpoint.host, SessionType.IDER, tls=endpoint.tls)
    show = not as_json and sys.stderr.isatty()
    summary = asyncio.run(
        run_ider(endpoint, image, floppy=floppy, boot=boot, enable_hint=hint, show=show)
    )

    def render(out: Any) -> None:
        mib = summary.bytes_served / (1 << 20)
        out.print(
            f"{summary.image}: {mib:.1f} MiB served in {summary.commands} commands "
            f"({summary.blocks_read} blocks) over {summary.seconds:.1f} s; ended: "
            f"{summary.ended.value}",
            markup=False,
        )

    emit(summary, as_json=as_json, render=render)
