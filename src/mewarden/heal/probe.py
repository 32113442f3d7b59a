"""The controller's I/O with nodes: host agent probes, AMT power state, and host actions.

The host agent answers ``GET /healthz`` with JSON while the OS runs (``reenroll_count`` tells
that a PXE re-provision finished). AMT is asked only when the host looks dead: a live host needs
no power action, and AMT firmware should be polled gently (reference §1.8, MAAS). One
:class:`AmtClient` per node is kept open between ticks, so a probe is one round trip after the
first Digest challenge.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from mewarden.amt import power
from mewarden.amt.boot import BootTarget, set_boot
from mewarden.amt.client import AmtClient, Endpoint
from mewarden.errors import AmtAuthError, AmtUnsupportedError, MewardenError
from mewarden.policy.ladder import ActionKind, Observation, Outcome
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

    @property
    def agent_url(self) -> str:
        address = self.agent_address or self.amt_host
        if ":" not in address:
            address = f"{address}:{AGENT_PORT}"
        return f"http://{address}/healthz"


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentReport:
    """What the host agent said (alive False when it did not answer in time)."""

    alive: bool
    reenroll_count: int | None = None


CredentialSource = Callable[[str], Secret]
"""Node name -> the AMT admin password (from the vault; tests pass the emulator's)."""


class NodeIo:
    """Probes and actions for many nodes, with one kept-open AMT client per node."""

    def __init__(
        self, credentials: CredentialSource, *, timeout_s: float = 2.0, concurrency: int = 256
    ) -> None:
        self.credentials = credentials
        self.timeout_s = timeout_s
        self._limit = asyncio.Semaphore(concurrency)
        self._amt: dict[str, AmtClient] = {}
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_s),
            trust_env=False,
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=0),
        )

    async def aclose(self) -> None:
        clients, self._amt = list(self._amt.values()), {}
        for client in clients:
            await client.aclose()
        await self._http.aclose()

    def _client(self, node: NodeTarget) -> AmtClient:
        client = self._amt.get(node.name)
        if client is None:
            endpoint = Endpoint(
                host=node.amt_host,
                port=node.amt_port,
                tls=node.amt_tls,
                username=node.amt_username,
                password=self.credentials(node.name),
                pin_sha256=node.tls_pin,
                timeout_s=self.timeout_s,
                retries=0,
            )
            client = self._amt[node.name] = AmtClient(endpoint)
        return client

    async def agent(self, node: NodeTarget) -> AgentReport:
        """Ask the host agent; any error or timeout means not alive."""
        try:
            reply = await self._http.get(node.agent_url)
            if reply.status_code != 200:
                return AgentReport(alive=False)
            count = reply.json().get("reenroll_count")
        except (httpx.HTTPError, ValueError, AttributeError):
            return AgentReport(alive=False)
        return AgentReport(alive=True, reenroll_count=int(count) if count is not None else None)

    async def observe(self, node: NodeTarget) -> tuple[Observation, int | None]:
        """Host agent first; AMT power state only when the host does not answer.

        Returns the observation and the agent's re-enrolment count (None when unknown).
        """
        async with self._limit:
            report = await self.agent(node)
            if report.alive:
                alive = Observation(host_alive=True, amt_reachable=True, power_on=True)
                return alive, report.reenroll_count
            try:
                status = await power.read_power(self._client(node))
            except MewardenError:
                return Observation(host_alive=False, amt_reachable=False), None
            return Observation(host_alive=False, amt_reachable=True, power_on=status.is_on), None

    async def act(self, node: NodeTarget, action: ActionKind) -> tuple[Outcome, str]:
        """Carry out one host action through AMT; never retried here (not idempotent)."""
        client = self._client(node)
        try:
            async with self._limit:
                if action is ActionKind.POWER_OFF:
                    await power.change_power(client, power.PowerAction.OFF)
                elif action is ActionKind.POWER_ON:
                    await power.change_power(client, power.PowerAction.ON)
                else:
                    await set_boot(client, BootTarget.PXE, reset=True)
        except AmtAuthError as exc:
            return Outcome.AUTH_FAILED, str(exc)
        except AmtUnsupportedError as exc:
            return Outcome.UNSUPPORTED, str(exc)
        except MewardenError as exc:
            return Outcome.RETRYABLE_FAILURE, str(exc)
        return Outcome.DONE, ""
