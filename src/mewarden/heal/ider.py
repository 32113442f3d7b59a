"""Re-provisioning by IDER for the heal controller: serve the node's installer image.

The ladder's ``ider-reprovision`` action (:class:`~mewarden.heal.probe.NodeIo`) calls an
:class:`IderReprovisioner`: it opens the node's image (checked as a BIOS reads it), opens the
IDE-R session, sets the one-shot IDER CD boot and resets the host through the node's kept-open
WS-MAN client, and returns once that boot is under way, so the action's outcome is the boot
request's. The serving goes on in the background until the installer ejects the CD, the host
resets after reading, or ``timeout_s`` (the ladder's re-provision timeout) passes; whether the
node came back is the ladder's business (re-enrolment, like PXE).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import structlog

from mewarden.amt.boot import BootTarget, set_boot
from mewarden.amt.client import AmtClient
from mewarden.errors import BadInputError, MewardenError
from mewarden.heal.probe import NodeTarget
from mewarden.ider.medium import Medium, check_cd, open_medium
from mewarden.ider.serve import IderSummary, serve_image

BootStart = Callable[[], Awaitable[None]]


class IderReprovisioner:
    """Starts IDER re-provisions and keeps their image serving running."""

    def __init__(self, *, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self.tasks: dict[str, asyncio.Task[IderSummary | None]] = {}
        self.finished: dict[str, IderSummary] = {}
        self.log = structlog.get_logger("mewarden.heal.ider")

    async def __call__(self, node: NodeTarget, client: AmtClient) -> None:
        """Serve the node's image and boot the node from it; returns once the boot is sent."""
        image = node.reprovision.image
        if not image:
            raise BadInputError(f"node {node.name}: re-provisioning by IDER needs an image")
        previous = self.tasks.pop(node.name, None)
        if previous is not None:
            previous.cancel()
        medium = open_medium(image)
        try:
            check_cd(medium)
        except BaseException:
            medium.close()
            raise
        booted: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        async def boot() -> None:
            try:
                await set_boot(client, BootTarget.IDER_CD, reset=True)
            except BaseException as exc:
                booted.set_exception(exc)
                raise
            booted.set_result(None)

        task = asyncio.create_task(self._serve(node, client, medium, boot))
        self.tasks[node.name] = task
        waiting: set[asyncio.Future[object]] = {booted, task}  # type: ignore[arg-type]
        await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        if booted.done():
            booted.result()  # the boot request's failure is the action's
            return
        task.result()  # the session failed before the boot: its error is the action's
        raise MewardenError(f"node {node.name}: the IDER session ended before the boot")

    async def _serve(
        self, node: NodeTarget, client: AmtClient, medium: Medium, boot: BootStart
    ) -> IderSummary | None:
        try:
            summary = await serve_image(
                client.endpoint, medium, boot=boot, timeout_s=self.timeout_s
            )
        except MewardenError as exc:
            self.log.warning("ider serving failed", node=node.name, error=str(exc))
            raise
        finally:
            medium.close()
        self.finished[node.name] = summary
        self.log.info(
            "ider served",
            node=node.name,
            ended=summary.ended.value,
            bytes=summary.bytes_served,
            blocks=summary.blocks_read,
        )
        return summary

    async def aclose(self) -> None:
        tasks, self.tasks = list(self.tasks.values()), {}
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
