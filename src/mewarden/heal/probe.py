"""The controller's I/O with nodes: host agent probes, AMT power state, and host actions.

The host agent answers ``GET /healthz`` with JSON while the OS runs (``reenroll_count`` tells
that a PXE re-provision finished). AMT is asked when the host looks dead, and for a live host
only when the controller asks (once per ``amt_check_interval_s``, :mod:`mewarden.policy.
amt_watch`): a live host needs no power action, and AMT firmware should be polled gently
(reference §1.8, MAAS). One :class:`AmtClient` per node is kept open between ticks, so a probe
is one round trip after the first Digest challenge.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from mewarden.amt import power
from mewarden.amt.boot import BootTarget, set_boot
from mewarden.amt.client import AmtClient, Endpoint
from mewarden.errors import AmtAuthError, AmtUnsupportedError, MewardenError, TlsPinMismatchError
from mewarden.heal.agent import get_health, split_address
from mewarden.policy.ladder import ActionKind, Observation, Outcome
from mewarden.policy.reprovision import PXE_DEFAULT, Reprovision
from mewarden.secret import Secret

AGENT_PORT = 9100


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeTarget:
    """Where a node's host agent and AMT are (from org state)."""

    name: str
    group: str
    amt_host: str
    amt_port: int | None = None
    amt_tls: bool = False
    amt_username: str = "admin"
    tls_pin: str | None = None
    agent_address: str | None = None
    """``host`` or ``host:port`` of the host agent (default: the AMT address, port 9100)."""
    enrolled_at: float = 0.0
    power_on: bool = True
    """The operator's power intent: False means the node is meant to be off."""
    reprovision: Reprovision = dataclasses.field(default=PXE_DEFAULT)
    """How the re-provision rung boots the node: PXE, or IDER with an image."""

    @property
    def agent_endpoint(self) -> tuple[str, int]:
        """(host, port) of the host agent."""
        return split_address(self.agent_address or self.amt_host, AGENT_PORT)


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentReport:
    """What the host agent said (alive False when it did not answer in time)."""

    alive: bool
    reenroll_count: int | None = None


CredentialSource = Callable[[str], Secret]
"""Node name -> the AMT admin password (from the vault; tests pass the emulator's)."""

IderLauncher = Callable[[NodeTarget, AmtClient], Awaitable[None]]
"""Start serving the node's installer image over IDE redirection and boot the node from it
(one-shot IDER CD boot + reset); returns once the boot is under way, the serving goes on."""


class NodeIo:
    """Probes and actions for many nodes, with one kept-open AMT client per node."""

    def __init__(
        self,
        credentials: CredentialSource,
        *,
        timeout_s: float = 2.0,
        concurrency: int = 128,
        ider: IderLauncher | None = None,
    ) -> None:
        self.credentials = credentials
        self.ider = ider
        self.timeout_s = timeout_s
        self.confirm_timeout_s = 2 * timeout_s
        """A confirmation probe is patient: it alone decides whether a host gets an action."""
        self._limit = asyncio.Semaphore(concurrency)
        self._act_limit = asyncio.Semaphore(concurrency)
        """Actions have their own limit: behind the pass's probes (FIFO, thousands at 10,000
        nodes) a confirmed action waited for most of a pass."""
        self._amt: dict[str, AmtClient] = {}

    async def aclose(self) -> None:
        closer = getattr(self.ider, "aclose", None)
        if closer is not None:
            await closer()  # image serving of IDER re-provisions still under way
        clients, self._amt = list(self._amt.values()), {}
        for client in clients:
            await client.aclose()

    def endpoint(self, node: NodeTarget) -> Endpoint:
        """How to reach node ``node``'s AMT (vault password, stored pin)."""
        return Endpoint(
            host=node.amt_host,
            port=node.amt_port,
            tls=node.amt_tls,
            username=node.amt_username,
            password=self.credentials(node.name),
            pin_sha256=node.tls_pin,
            timeout_s=self.timeout_s,
            retries=0,
        )

    def _client(self, node: NodeTarget) -> AmtClient:
        client = self._amt.get(node.name)
        if client is None:
            client = self._amt[node.name] = AmtClient(self.endpoint(node))
        return client

    async def agent(self, node: NodeTarget, *, timeout_s: float | None = None) -> AgentReport:
        """Ask the host agent; anything but a 200 with a JSON object in time means not alive."""
        host, port = node.agent_endpoint
        answer = await get_health(host, port, timeout_s=timeout_s or self.timeout_s)
        if answer is None or answer.status != 200 or not isinstance(answer.body, dict):
            return AgentReport(alive=False)
        count = answer.body.get("reenroll_count")
        return AgentReport(alive=True, reenroll_count=count if isinstance(count, int) else None)

    async def observe(
        self, node: NodeTarget, *, urgent: bool = False, check_amt: bool = False
    ) -> tuple[Observation, int | None]:
        """Host agent first; AMT power state when the host does not answer (or ``check_amt``).

        Returns the observation and the agent's re-enrolment count (None when unknown).
        ``urgent``: a confirmation probe, outside the pass's concurrency limit. A live host's
        AMT is not asked unless ``check_amt`` (its ``amt_reachable`` is then None).
        """
        async with contextlib.nullcontext() if urgent else self._limit:
            report = await self.agent(node, timeout_s=self.confirm_timeout_s if urgent else None)
            if report.alive:
                reachable = await self._amt_answers(node) if check_amt else None
                alive = Observation(host_alive=True, amt_reachable=reachable, power_on=True)
                return alive, report.reenroll_count
            try:
                status = await power.read_power(self._client(node))
            except MewardenError:
                return Observation(host_alive=False, amt_reachable=False), None
            return Observation(host_alive=False, amt_reachable=True, power_on=status.is_on), None

    async def _amt_answers(self, node: NodeTarget) -> bool:
        """The same power-state read as for a dead host, on the same kept-open client."""
        try:
            await power.read_power(self._client(node))
        except MewardenError:
            return False
        return True

    async def act(self, node: NodeTarget, action: ActionKind) -> tuple[Outcome, str]:
        """Carry out one host action through AMT; never retried here (not idempotent)."""
        client = self._client(node)
        try:
            async with self._act_limit:
                if action is ActionKind.POWER_OFF:
                    await power.change_power(client, power.PowerAction.OFF)
                elif action is ActionKind.POWER_ON:
                    await power.change_power(client, power.PowerAction.ON)
                elif action is ActionKind.IDER_REPROVISION:
                    if self.ider is None:
                        raise AmtUnsupportedError("this controller cannot serve IDER images")
                    await self.ider(node, client)
                else:
                    await set_boot(client, BootTarget.PXE, reset=True)
        except AmtAuthError as exc:
            return Outcome.AUTH_FAILED, str(exc)
        except AmtUnsupportedError as exc:
            return Outcome.UNSUPPORTED, str(exc)
        except TlsPinMismatchError as exc:  # another device, or an attacker: never retry
            return Outcome.TLS_PIN_MISMATCH, str(exc)
        except MewardenError as exc:
            return Outcome.RETRYABLE_FAILURE, str(exc)
        return Outcome.DONE, ""
