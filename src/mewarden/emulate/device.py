"""One emulated device as the servers see it: identity, lazily created state, faults.

The state (:class:`~mewarden.emulate.model.DeviceState`) is only built when something first
talks to the device, so an idle 10,000-device fleet costs little more than its identities.
"""

from __future__ import annotations

import base64
import enum
import os
from collections.abc import Callable
from dataclasses import dataclass, field

from mewarden.emulate.classes import Context
from mewarden.emulate.digest import DigestAuthority, md5_hex
from mewarden.emulate.dispatch import WsmanSession
from mewarden.emulate.hostsetup_state import HostTrust
from mewarden.emulate.model import DeviceState
from mewarden.emulate.values import ControlMode, Identity, PowerState, Timing
from mewarden.errors import BadInputError
from mewarden.secret import Secret


class FaultKind(enum.StrEnum):
    """Faults that can be injected per device."""

    HANG_HOST = "hang-host"
    AMT_UNREACHABLE = "amt-unreachable"
    SLOW = "slow"
    HTTP_500 = "http-500"
    MALFORMED_XML = "malformed-xml"
    TLS_FAILURE = "tls-failure"
    REFUSE = "refuse"
    FLAPPING = "flapping"
    IGNORE_POWER = "ignore-power"
    CVE_2017_5689 = "cve-2017-5689"
    BROKEN_OS = "broken-os"
    IDER_SEQUENCE_GAP = "ider-sequence-gap"

    @classmethod
    def parse(cls, text: str) -> FaultKind:
        try:
            return cls(text)
        except ValueError:
            known = ", ".join(k.value for k in cls)
            raise BadInputError(f"unknown fault kind {text!r} (known: {known})") from None


@dataclass(frozen=True, slots=True, kw_only=True)
class Ports:
    """The TCP ports every device listens on (standard AMT ports by default)."""

    http: int = 16992
    tls: int = 16993
    redirection: int = 16994
    redirection_tls: int = 16995
    agent: int = 9100
    vnc: int = 5900
    """Plain VNC (KVM with the RFB password); answers only while Is5900PortEnabled."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceConfig:
    """What all devices of a fleet share."""

    timing: Timing
    password: Secret
    mode: ControlMode
    clock: Callable[[], float]
    wall_offset: float
    ports: Ports
    tls: bool
    host_trust: HostTrust = field(default_factory=HostTrust)
    """Trusted root hashes and PKI DNS suffix for ACM activation (``--trusted-root-hash``)."""


class EmulatedDevice:
    """A device: addresses and ports, live state, injected faults."""

    __slots__ = (
        "_digest",
        "_session",
        "_state",
        "config",
        "connections",
        "faults",
        "identity",
        "inflight",
    )

    def __init__(self, identity: Identity, config: DeviceConfig) -> None:
        self.identity = identity
        self.config = config
        self.faults: set[FaultKind] = set()
        self.inflight = 0
        self.connections = 0
        self._state: DeviceState | None = None
        self._session: WsmanSession | None = None
        self._digest: DigestAuthority | None = None

    # --- the documented attributes ------------------------------------------------------------

    @property
    def address(self) -> str:
        return self.identity.address

    @property
    def http_port(self) -> int:
        return self.config.ports.http

    @property
    def tls_port(self) -> int | None:
        return self.config.ports.tls if self.config.tls else None

    @property
    def redirection_port(self) -> int:
        return self.config.ports.redirection

    @property
    def agent_port(self) -> int:
        return self.config.ports.agent

    @property
    def uuid(self) -> str:
        return self.identity.uuid

    @property
    def realm(self) -> str:
        return self.identity.realm

    @property
    def mac(self) -> str:
        return self.identity.mac

    @property
    def power_state(self) -> PowerState:
        return self.state.power_state

    @property
    def host_up(self) -> bool:
        """True while the host OS runs and answers (not hung)."""
        return self.state.host_answers

    # --- lazily built parts -------------------------------------------------------------------

    def now(self) -> float:
        return self.config.clock()

    def context(self) -> Context:
        now = self.now()
        return Context(now=now, wall=now + self.config.wall_offset)

    @property
    def state(self) -> DeviceState:
        """The device state, advanced to the current time."""
        if self._state is None:
            self._state = DeviceState.create(
                self.identity, self.config.timing, mode=self.config.mode, now=self.now()
            )
            self._state.host_setup.trust = self.config.host_trust
        self._state.advance(self.now())
        if not self._state.os_broken:
            self.faults.discard(FaultKind.BROKEN_OS)  # re-installed by a PXE or IDER boot
        return self._state

    @property
    def materialized(self) -> bool:
        return self._state is not None

    @property
    def session(self) -> WsmanSession:
        if self._session is None:
            self._session = WsmanSession()
        return self._session

    @property
    def digest(self) -> DigestAuthority:
        if self._digest is None:
            self._digest = DigestAuthority(
                realm=self.identity.realm, username="admin", password=self.config.password
            )
        self._digest.accept_empty_response = FaultKind.CVE_2017_5689 in self.faults
        self._digest.ha1 = self.state.admin_ha1
        return self._digest

    def admin_ha1(self) -> str:
        """MD5(admin:realm:password) of the current admin password (after activation, too)."""
        return self.state.admin_ha1 or md5_hex(
            f"admin:{self.identity.realm}:{self.config.password.reveal()}"
        )

    def new_nonce(self) -> str:
        return base64.b64encode(os.urandom(24)).decode()

    # --- faults -------------------------------------------------------------------------------

    def inject(self, kind: FaultKind) -> None:
        self.faults.add(kind)
        state = self.state
        if kind is FaultKind.HANG_HOST:
            state.hang_host(True, self.now())
        if kind is FaultKind.IGNORE_POWER:
            state.ignore_power = True
        if kind is FaultKind.BROKEN_OS:
            state.break_os(self.now())

    def clear(self) -> None:
        if self._state is not None:
            self._state.hang_host(False, self.now())
            self._state.ignore_power = False
            self._state.os_broken = False
        self.faults.clear()

    def drop_connection(self) -> bool:
        """Whether to refuse this new connection (``refuse``; every other one when flapping)."""
        self.connections += 1
        if FaultKind.REFUSE in self.faults:
            return True
        return FaultKind.FLAPPING in self.faults and self.connections % 2 == 0
