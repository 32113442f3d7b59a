"""What an emulated device knows about host-based setup: trust anchors, the local OS account,
the certificate chain being injected, the nonce, and test knobs (pure).

Real firmware ships a list of trusted root certificate hashes (SHA-256 of the root's DER) and
may have a PKI DNS suffix (DHCP option 15 or set in MEBx); ACM activation needs a provisioning
certificate chaining to one of those roots, for a name in that suffix (reference ``amt.md``
§1.11). ``mewarden emulate --trusted-root-hash HEX --pki-dns-suffix NAME`` sets them.
"""

from __future__ import annotations

import hashlib
import secrets
import string
from dataclasses import dataclass, field

# Stand-ins for the vendor roots every device ships with (fake names, fake hashes).
_VENDOR_ROOTS = ("Emulated Vendor Root CA 1", "Emulated Vendor Root CA 2")


@dataclass(frozen=True, slots=True, kw_only=True)
class TrustedRoot:
    name: str
    sha256: bytes
    is_default: bool
    is_active: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class HostTrust:
    """The fleet's configured trust anchors (shared by every device)."""

    trusted_root_hashes: tuple[bytes, ...] = ()
    pki_dns_suffix: str = ""

    def roots(self) -> tuple[TrustedRoot, ...]:
        vendor = tuple(
            TrustedRoot(name=n, sha256=hashlib.sha256(n.encode()).digest(), is_default=True)
            for n in _VENDOR_ROOTS
        )
        added = tuple(
            TrustedRoot(name=f"Configured root {i + 1}", sha256=h, is_default=False)
            for i, h in enumerate(self.trusted_root_hashes)
        )
        return vendor + added


@dataclass(frozen=True, slots=True)
class ForcedReturn:
    """Make a method return ``value``; with ``apply`` the change happens anyway (partial)."""

    value: int
    apply: bool = False


def _local_password() -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(24))


@dataclass(slots=True, kw_only=True)
class HostSetupState:
    """Per-device host-based setup state (lives on the device's ``DeviceState``)."""

    trust: HostTrust = field(default_factory=HostTrust)
    local_user: str = "$$OsAdmin"
    local_password: str = field(default_factory=_local_password, repr=False)
    chain: list[bytes] = field(default_factory=list)
    chain_complete: bool = False
    nonce: bytes = field(default_factory=lambda: secrets.token_bytes(20))
    mebx_password_set: bool = True
    """False from an ACM activation until SetMEBxPassword (CommitChanges needs it)."""
    forced: dict[str, ForcedReturn] = field(default_factory=dict)
    """Method name -> forced ReturnValue (tests: each Setup/AdminSetup error)."""
    drop_mei_on: frozenset[str] = frozenset()
    """WS-MAN method names whose request closes the MEI link unanswered (tests)."""

    def reset_chain(self) -> None:
        self.chain.clear()
        self.chain_complete = False

    def new_nonce(self) -> None:
        self.nonce = secrets.token_bytes(20)
