"""``mewarden node reinstall NAME --image ISO``: remote OS install through IDER, unattended.

The steps, each in the audit trail: the image is checked as a BIOS reads it
(``node.reinstall-started``: volume id, boot image and file SHA-256); the node's host agent is
asked for its re-enrolment count; IDE-R serves the image and the node is booted from it once
(``node.reinstall-booting``); serving ends when the installer ejects the CD or the host resets
after reading it (``node.reinstall-served``: bytes, blocks, how it ended); the install is
complete when the host agent answers with a higher re-enrolment count
(``node.reinstall-completed``), else ``node.reinstall-failed`` and a non-zero exit. Watch the
install meanwhile with ``mewarden node console NAME``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import signal
import sys
import time
from typing import Any

import click

from mewarden.cli.cmd_org import OrgAccess, org_options
from mewarden.cli.output import emit, json_option

POLL_S = 0.5
AGENT_PORT = 9100


def _file_sha256(medium: Any) -> str:
    digest = hashlib.sha256()
    for lba in range(0, medium.sectors, 512):
        digest.update(medium.read(lba, min(512, medium.sectors - lba)))
    return digest.hexdigest()


async def _reenroll_count(agent: tuple[str, int]) -> int | None:
    from mewarden.heal.agent import get_health

    answer = await get_health(agent[0], agent[1], timeout_s=2.0)
    if answer is None or answer.status != 200 or not isinstance(answer.body, dict):
        return None
    count = answer.body.get("reenroll_count")
    return count if isinstance(count, int) else None


async def _wait_reenrolled(
    agent: tuple[str, int], before: int | None, deadline: float
) -> int | None:
    while time.monotonic() < deadline:
        count = await _reenroll_count(agent)
        if count is not None and (before is None or count > before):
            return count
        await asyncio.sleep(POLL_S)
    return None


async def _serve(
    endpoint: Any, medium: Any, audit: Any, timeout_s: float, notice: str | None
) -> Any:
    from mewarden.amt.boot import BootTarget, set_boot
    from mewarden.amt.client import AmtClient
    from mewarden.cli.amt_ider import pinned_for_ider
    from mewarden.ider.serve import serve_image
    from mewarden.redirect.consent_flow import enable_command
    from mewarden.redirect.wire import SessionType

    hint = enable_command(endpoint.host, SessionType.IDER, tls=endpoint.tls)
    endpoint = await pinned_for_ider(endpoint, hint)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGINT, stop.set)
    try:
        async with AmtClient(endpoint) as client:

            async def boot() -> None:
                plan = await set_boot(client, BootTarget.IDER_CD, reset=True)
                audit("node.reinstall-booting", {"power": int(plan.power_state or 0)})
                if notice:
                    click.echo(
                        f"mewarden: booting the installer; watch it with: {notice}", err=True
                    )

            return await serve_image(
                endpoint, medium, boot=boot, stop=stop, timeout_s=timeout_s, enable_hint=hint
            )
    finally:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.remove_signal_handler(signal.SIGINT)


async def reinstall_node(
    endpoint: Any,
    medium: Any,
    agent: tuple[str, int],
    *,
    audit: Any,
    timeout_s: float,
    notice: str | None = None,
) -> dict[str, Any]:
    """Serve, boot, wait for the re-enrolment; the report (raises on a failed install)."""
    from mewarden.errors import AmtTimeoutError

    began = time.monotonic()
    before = await _reenroll_count(agent)
    summary = await _serve(endpoint, medium, audit, timeout_s, notice)
    served = {
        "ended": summary.ended.value,
        "bytes_served": summary.bytes_served,
        "blocks_read": summary.blocks_read,
    }
    audit("node.reinstall-served", served)
    count = None
    if summary.ended.value != "interrupted":
        count = await _wait_reenrolled(agent, before, began + timeout_s)
    report = {"reenroll_count": count, "before": before, "seconds": time.monotonic() - began}
    if count is None:
        why = "interrupted" if summary.ended.value == "interrupted" else "no re-enrolment"
        audit("node.reinstall-failed", served | {"reason": why})
        raise AmtTimeoutError(
            f"the node did not re-enroll within {timeout_s:g} s of the IDER boot ({why}; "
            "watch it with 'mewarden node console')"
        )
    audit("node.reinstall-completed", served | report)
    return served | report


@click.command("reinstall")
@click.argument("name")
@click.option("--image", required=True, type=click.Path(dir_okay=False), help="Installer ISO.")
@click.option(
    "--timeout",
    "timeout_s",
    type=click.FloatRange(1, 24 * 3600),
    default=1800.0,
    show_default=True,
    help="Seconds for the install, from the boot to the node's re-enrolment.",
)
@org_options
@json_option
def reinstall(org: OrgAccess, name: str, image: str, timeout_s: float, as_json: bool) -> None:
    """Re-install NAME's OS from an ISO over IDE-R; done when the node re-enrolls."""
    from mewarden.cli.node_access import audit, node_endpoint
    from mewarden.heal.agent import split_address
    from mewarden.ider.medium import check_cd, open_medium

    store, endpoint = node_endpoint(org, name)
    node = store.node(name)
    agent = split_address(node.agent_address or node.amt_host or "", AGENT_PORT)
    with open_medium(image) as medium:
        found = check_cd(medium)
        started = {
            "image": str(medium.path),
            "image_sha256": _file_sha256(medium),
            "volume_id": found.volume.volume_id,
            "boot_image_sha256": found.boot_image_sha256,
        }
        audit(store, name, "node.reinstall-started", started)
        report = asyncio.run(
            reinstall_node(
                endpoint,
                medium,
                agent,
                audit=lambda k, d: audit(store, name, k, d),
                timeout_s=timeout_s,
                notice=None if as_json else f"mewarden node console {name}",
            )
        )
    result = {"node": name, **started, **report}

    def render(out: Any) -> None:
        out.print(
            f"{name}: re-installed from {found.volume.volume_id!r} and re-enrolled "
            f"(count {report['reenroll_count']}) in {report['seconds']:.1f} s",
            markup=False,
        )

    emit(result, as_json=as_json, render=render)
    sys.stdout.flush()
