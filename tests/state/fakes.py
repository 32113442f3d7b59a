"""An in-memory AMT device implementing the enrollment protocol (for workflow tests)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from mewarden.amt.network import EthernetChange
from mewarden.errors import AmtAuthError, AmtUnreachableError
from mewarden.secret import Secret
from mewarden.state.enroll import AmtObservation, AmtProfile


@dataclass
class FakeDevice:
    """Remembers what enrollment did to it; can fail at a chosen step."""

    index: int
    password: str = "P@ssw0rd1"
    offered: str = "P@ssw0rd1"
    tls: bool = True
    fail_at: str | None = None
    profile: AmtProfile | None = None
    network: EthernetChange | None = None
    password_changes: list[str] = field(default_factory=list)

    def _step(self, name: str) -> None:
        if self.fail_at == name:
            raise AmtUnreachableError(f"device {self.index} went away during {name}")

    async def read_identity(self) -> AmtObservation:
        self._step("identity")
        if self.offered != self.password:
            raise AmtAuthError(f"device {self.index} rejected the credentials")
        return AmtObservation(
            uuid=None,
            amt_version="16.1.30",
            build_number="2307",
            sku="16392",
            digest_realm=f"Digest:{self.index:032X}",
            realm_valid=True,
            macs=(self.mac,),
            consent_required=True,
        )

    @property
    def mac(self) -> str:
        """A locally administered MAC derived from the index (valid for any index < 2**24)."""
        octets = (self.index >> 16 & 0xFF, self.index >> 8 & 0xFF, self.index & 0xFF)
        return "02:00:00:" + ":".join(f"{o:02x}" for o in octets)

    async def tls_fingerprint(self) -> str | None:
        return hashlib.sha256(f"cert-{self.index}".encode()).hexdigest() if self.tls else None

    async def apply_profile(self, profile: AmtProfile) -> None:
        self._step("profile")
        self.profile = profile

    async def apply_network(self, change: EthernetChange) -> None:
        self._step("network")
        self.network = change

    async def set_admin_password(self, password: Secret) -> None:
        self._step("password")
        self.password = password.reveal()
        self.password_changes.append(password.reveal())
