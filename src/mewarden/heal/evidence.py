"""Console evidence for a quarantined node: what its console showed, as ``console-capture``
documents on the node, so whoever picks up the quarantine sees what the machine showed.

For a node whose AMT answers, heal reads a few seconds of Serial-over-LAN (the tail, at most
:data:`MAX_TAIL_BYTES`) and, where KVM is enabled, one KVM screenshot through the KVM module's
hook (``mewarden.redirect.kvm_screen.capture_kvm_screenshot``). Nobody is at the
node to read a user-consent code, so where the device requires consent (client control mode)
the capture records exactly that instead of trying. Every failure becomes a document with the
reason, never an exception in the controller; every document is bounded.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import importlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog

from mewarden.amt.client import AmtClient, Endpoint
from mewarden.amt.consent import ConsentStatus, read_consent
from mewarden.amt.redirection import RedirectionStatus, read_redirection
from mewarden.errors import MewardenError
from mewarden.jsonutil import dumps
from mewarden.policy.ladder import Fault
from mewarden.redirect.consent_flow import consent_required
from mewarden.redirect.session import RedirectionSession
from mewarden.redirect.sol import SolChannel, SolData, SolLineStatus
from mewarden.redirect.wire import SessionType
from mewarden.state.models import DocumentKind
from mewarden.state.store import Store
from mewarden.wsman.resources import OptInState

MAX_TAIL_BYTES = 16 * 1024
MAX_SCREENSHOT_BYTES = 2 * 1024 * 1024
KVM_HOOK = "mewarden.redirect.kvm_screen"
_GRANTED = frozenset({OptInState.RECEIVED, OptInState.IN_SESSION})
NO_AMT_FAULTS = frozenset({Fault.AMT_UNREACHABLE, Fault.AUTH_FAILED, Fault.TLS_PIN_MISMATCH})
"""Quarantines where AMT does not answer (or must not be trusted): nothing to capture."""
CLOSE_WAIT_S = 15.0

Screenshot = Callable[..., Awaitable[bytes]]


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsoleCapture:
    """One piece of evidence: a SOL tail or a KVM screenshot, or why there is none."""

    kind: str
    """``sol-tail`` or ``kvm-screenshot``."""
    text: str | None = None
    png_base64: str | None = None
    host_powered: bool | None = None
    truncated: bool = False
    error: str | None = None

    def body(self, *, node: str, captured_at: float) -> str:
        """The document body (JSON)."""
        return dumps({"node": node, "captured_at": captured_at, **_fields(self)}, indent=None)


def _fields(capture: ConsoleCapture) -> dict[str, Any]:
    values = {
        "kind": capture.kind,
        "text": capture.text,
        "png_base64": capture.png_base64,
        "host_powered": capture.host_powered,
        "truncated": capture.truncated,
        "error": capture.error,
    }
    return {k: v for k, v in values.items() if v is not None}


def kvm_hook() -> Screenshot | None:
    """The KVM screenshot function, when the KVM module provides it."""
    try:
        module = importlib.import_module(KVM_HOOK)
    except ImportError:
        return None
    hook = getattr(module, "capture_kvm_screenshot", None)
    return hook if callable(hook) else None


async def capture_sol_tail(endpoint: Endpoint, *, seconds: float) -> ConsoleCapture:
    """Read SOL for ``seconds``; keep the last :data:`MAX_TAIL_BYTES`."""
    shown = bytearray()
    powered: bool | None = None
    truncated = False
    try:
        session = await RedirectionSession.open(endpoint, SolChannel())
    except MewardenError as exc:
        return ConsoleCapture(kind="sol-tail", error=str(exc))
    try:
        for _ in range(max(1, int(seconds / 0.1))):
            for event in await session.receive(0.1):
                if isinstance(event, SolData):
                    shown += event.data
                elif isinstance(event, SolLineStatus):
                    powered = event.host_powered
            if len(shown) > MAX_TAIL_BYTES:
                del shown[: len(shown) - MAX_TAIL_BYTES]
                truncated = True
    except MewardenError as exc:
        session.abort()
        return ConsoleCapture(kind="sol-tail", text=_text(shown), error=str(exc))
    await session.aclose()
    return ConsoleCapture(
        kind="sol-tail", text=_text(shown), host_powered=powered, truncated=truncated
    )


def _text(data: bytes | bytearray) -> str:
    return bytes(data).decode("utf-8", "replace").replace("\r\n", "\n")


async def capture_kvm(endpoint: Endpoint, hook: Screenshot, *, timeout_s: float) -> ConsoleCapture:
    try:
        png = await hook(endpoint, timeout_s=timeout_s)
    except MewardenError as exc:
        return ConsoleCapture(kind="kvm-screenshot", error=str(exc))
    if len(png) > MAX_SCREENSHOT_BYTES:
        return ConsoleCapture(
            kind="kvm-screenshot", error=f"the screenshot is {len(png)} bytes; not kept"
        )
    return ConsoleCapture(kind="kvm-screenshot", png_base64=base64.b64encode(png).decode())


def _blocked(status: RedirectionStatus, consent: ConsentStatus, kind: SessionType) -> str | None:
    """Why a session of ``kind`` cannot run unattended, or None."""
    enabled = status.sol if kind is SessionType.SOL else status.kvm
    if not enabled or not status.listener:
        return f"{kind.name} redirection is disabled on the device"
    if consent_required(consent.required, kind) and consent.state not in _GRANTED:
        return (
            f"the device requires user consent for {kind.name} (a code shown on its screen) "
            "and nobody is there to read it; open the console by hand"
        )
    return None


async def gather_evidence(endpoint: Endpoint, *, seconds: float) -> list[ConsoleCapture]:
    """A SOL tail, and a KVM screenshot where KVM is enabled and the hook exists."""
    try:
        async with AmtClient(endpoint) as client:
            status = await read_redirection(client)
            consent = await read_consent(client)
    except MewardenError as exc:
        return [ConsoleCapture(kind="sol-tail", error=str(exc))]
    if (why := _blocked(status, consent, SessionType.SOL)) is None:
        captures = [await capture_sol_tail(endpoint, seconds=seconds)]
    else:
        captures = [ConsoleCapture(kind="sol-tail", error=why)]
    hook = kvm_hook()
    if status.kvm and hook is not None:
        why = _blocked(status, consent, SessionType.KVM)
        if why is None:
            captures.append(await capture_kvm(endpoint, hook, timeout_s=max(seconds, 5.0)))
        else:
            captures.append(ConsoleCapture(kind="kvm-screenshot", error=why))
    return captures


class EvidenceTaker:
    """Captures in the background, one at a time per node, stored as documents on the node."""

    def __init__(
        self, store: Store, *, seconds: float, source: str, clock: Callable[[], float]
    ) -> None:
        self.store = store
        self.seconds = seconds
        self.source = source
        self.clock = clock
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.log = structlog.get_logger("mewarden.heal.evidence")

    def take(self, name: str, endpoint: Endpoint) -> None:
        """Start capturing node ``name``'s console (no-op while a capture of it runs)."""
        if name in self.tasks:
            return
        task = asyncio.get_running_loop().create_task(self._capture(name, endpoint))
        self.tasks[name] = task
        task.add_done_callback(lambda _t: self.tasks.pop(name, None))

    async def _capture(self, name: str, endpoint: Endpoint) -> None:
        captures = await gather_evidence(endpoint, seconds=self.seconds)
        for capture in captures:
            body = capture.body(node=name, captured_at=self.clock())
            try:
                self.store.attach_document(name, DocumentKind.CONSOLE_CAPTURE, self.source, body)
            except MewardenError as exc:  # the node was removed meanwhile, the database is gone
                self.log.warning("console capture not stored", node=name, error=str(exc))
                return
        self.log.info("console captured", node=name, kinds=[c.kind for c in captures])

    async def aclose(self) -> None:
        """Let running captures finish (bounded), then cancel what is left."""
        tasks = list(self.tasks.values())
        if not tasks:
            return
        _done, pending = await asyncio.wait(tasks, timeout=CLOSE_WAIT_S)
        for task in pending:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*pending, return_exceptions=True)
