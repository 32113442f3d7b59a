"""Enrollment: the narrow AMT interface it needs, the pure workflow, and the store shell.

For policy ``use`` enrollment checks the current credentials (the first authenticated call),
reads the identity, pins the TLS certificate, applies the org's AMT profile and replaces the
admin password with a generated one kept only in the vault. The new password is sealed into
the vault as ``amt-admin-pending`` *before* the device is changed, and promoted to
``amt-admin`` after: a crash in between leaves a recoverable password, never a lost one.

For ``neutralize`` and ``ignore`` enrollment attaches the JSON reports the operator gives
(``firmware inspect``, ``firmware neutralize``, ``host probe``) as metadata documents.
"""

from __future__ import annotations

import json
import secrets
import string
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from mewarden.amt.network import AddressMode, EthernetChange
from mewarden.crypto.vault import OrgKey, SealedSecret, seal
from mewarden.errors import BadInputError, MewardenError, StateError
from mewarden.jsonutil import dumps
from mewarden.secret import Secret
from mewarden.state.models import DocumentKind, Lifecycle, Policy, Purpose, check_mac
from mewarden.state.store import Store
from mewarden.values import MeState
from mewarden.wsman.resources import OptInRequired

PENDING = "amt-admin-pending"
Reports = Mapping[DocumentKind, tuple[str, str]]
"""Validated report documents by kind: (source, canonical JSON text)."""
_SYMBOLS = "!@#$%^&*-_=+"
PASSWORD_LENGTH = 24


@dataclass(frozen=True, slots=True, kw_only=True)
class AmtProfile:
    """The org's AMT settings applied at enrollment."""

    sol: bool = True
    ider: bool = False
    kvm: bool = False
    user_consent: OptInRequired | None = None
    """User consent to set (None: leave it as the device has it). Only admin control mode can
    change it; enrollment fails with a clear error on a client-control-mode device."""
    network: EthernetChange | None = None
    """Wired IPv4 settings to apply (None: leave them)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AmtObservation:
    """What enrollment read from the device."""

    uuid: str | None
    amt_version: str
    build_number: str
    sku: str
    digest_realm: str
    realm_valid: bool
    macs: tuple[str, ...]
    consent_required: bool | None
    versions: Mapping[str, str] = field(default_factory=dict)


class EnrollClient(Protocol):
    """What enrollment needs from an authenticated AMT session (implemented over mewarden.amt)."""

    async def read_identity(self) -> AmtObservation:
        """Authenticate and read UUID, versions, realm and MACs (AmtAuthError on bad creds)."""
        ...

    async def tls_fingerprint(self) -> str | None:
        """SHA-256 hex of the device certificate (None over plain HTTP)."""
        ...

    async def apply_profile(self, profile: AmtProfile) -> None:
        """Make redirection features and user consent match ``profile``."""
        ...

    async def apply_network(self, change: EthernetChange) -> None:
        """Apply the wired IPv4 settings (last: the device may move to a new address)."""
        ...

    async def set_admin_password(self, password: Secret) -> None:
        """Replace the admin password (the session must keep working until closed)."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class EnrollResult:
    """The outcome of one enrollment (no secrets)."""

    node: str
    policy: Policy
    identity: AmtObservation | None
    tls_pin: str | None
    documents: tuple[str, ...]


def generate_password(length: int = PASSWORD_LENGTH) -> Secret:
    """A strong AMT admin password: upper, lower, digit and symbol, from ``secrets``."""
    alphabet = string.ascii_letters + string.digits + _SYMBOLS
    while True:
        text = "".join(secrets.choice(alphabet) for _ in range(length))
        classes = (str.isupper, str.islower, str.isdigit, lambda c: c in _SYMBOLS)
        if all(any(test(c) for c in text) for test in classes):
            return Secret(text)


async def enroll_use(
    store: Store,
    org_key: OrgKey,
    name: str,
    client: EnrollClient,
    profile: AmtProfile,
) -> EnrollResult:
    """Enroll node ``name`` for policy use through ``client`` (see the module docstring)."""
    node = store.node(name)
    username = node.amt_username or "admin"
    identity = await client.read_identity()
    pin = await client.tls_fingerprint()
    await client.apply_profile(profile)
    new_password = generate_password()
    store.put_credential(name, PENDING, username, _seal(org_key, new_password, name, PENDING))
    await client.set_admin_password(new_password)
    admin = Purpose.AMT_ADMIN.value
    store.put_credential(name, admin, username, _seal(org_key, new_password, name, admin))
    store.delete_credential(name, PENDING)
    if profile.network is not None:
        await client.apply_network(profile.network)
        _follow_static_address(store, name, profile.network)
    if pin is not None:
        store.pin_tls(name, pin)
    for mac in _valid_macs(identity.macs):
        store.add_mac(name, mac)
    body = dumps({"identity": identity, "profile": profile})
    store.attach_document(name, DocumentKind.AMT_IDENTITY, "enroll", body)
    store.set_lifecycle(name, Lifecycle.ENROLLED)
    return EnrollResult(
        node=name, policy=Policy.USE, identity=identity, tls_pin=pin, documents=("amt-identity",)
    )


def _valid_macs(macs: tuple[str, ...]) -> list[str]:
    """The well-formed MACs a device reported: a garbled one must not fail the enrollment after
    the password changed (the identity document keeps what the device said)."""
    valid = []
    for mac in macs:
        try:
            valid.append(check_mac(mac))
        except BadInputError:
            continue
    return valid


def _follow_static_address(store: Store, name: str, change: EthernetChange) -> None:
    """A static address in the profile is where AMT answers from now on."""
    if change.mode is AddressMode.STATIC and change.ip_address:
        store.update_node(name, lambda _n: {"amt_host": change.ip_address}, "node.amt-address")


def _seal(org_key: OrgKey, password: Secret, node: str, purpose: str) -> SealedSecret:
    return seal(org_key, password, node=node, purpose=purpose)


def parse_report(kind: DocumentKind, raw: bytes, *, source: str) -> str:
    """Validate a report file as a JSON object and return its canonical text."""
    try:
        value = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadInputError(f"{source} is not valid JSON: {type(exc).__name__}") from None
    if not isinstance(value, dict):
        raise BadInputError(f"{source} is not a JSON object (a {kind.value} report)")
    if kind is DocumentKind.HOST_PROBE:
        _check_probe(value, source)
    return json.dumps(value, sort_keys=True)


def _check_probe(value: Mapping[str, object], source: str) -> None:
    """The keys fleet status reads from a ``host probe --json`` document (docs/host-probe.md)."""
    version = value.get("schema_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise BadInputError(f"{source} is not a host probe report (no integer schema_version)")
    verdicts = [m.value for m in MeState]
    if value.get("verdict") not in verdicts:
        raise BadInputError(f"{source}: host probe verdict must be one of {', '.join(verdicts)}")


def validate_reports(
    policy: Policy, reports: Mapping[DocumentKind, tuple[str, bytes]]
) -> dict[DocumentKind, tuple[str, str]]:
    """Check every report (and that neutralize has its report) before anything is written."""
    if policy is Policy.NEUTRALIZE and DocumentKind.FIRMWARE_NEUTRALIZE not in reports:
        raise BadInputError("policy neutralize needs the 'firmware neutralize --json' report")
    return {
        kind: (src, parse_report(kind, raw, source=src)) for kind, (src, raw) in reports.items()
    }


def attach_reports(store: Store, name: str, reports: Reports) -> tuple[str, ...]:
    """Attach validated reports as documents; returns their kinds."""
    for kind, (source, body) in reports.items():
        store.attach_document(name, kind, source, body)
    return tuple(k.value for k in reports)


def enroll_with_reports(
    store: Store, name: str, policy: Policy, reports: Mapping[DocumentKind, tuple[str, bytes]]
) -> EnrollResult:
    """Enroll for neutralize/ignore: validate every report first, then attach them."""
    if policy is Policy.USE:
        raise StateError("policy use enrolls through AMT, not from report files")
    return enroll_observed(store, name, policy, validate_reports(policy, reports))


def enroll_observed(store: Store, name: str, policy: Policy, reports: Reports) -> EnrollResult:
    """Enroll for neutralize/ignore with reports already checked by :func:`validate_reports`."""
    if policy is Policy.USE:
        raise StateError("policy use enrolls through AMT, not from report files")
    store.node(name)
    documents = attach_reports(store, name, reports)
    store.set_policy(name, policy)
    store.set_lifecycle(name, Lifecycle.ENROLLED)
    return EnrollResult(node=name, policy=policy, identity=None, tls_pin=None, documents=documents)


async def enroll_use_or_undo(
    store: Store,
    name: str,
    enrollment: Awaitable[EnrollResult],
    *,
    created: bool,
    reports: Reports,
) -> EnrollResult:
    """Await a use ``enrollment`` of ``name``; on success set policy use and attach ``reports``.

    On failure the node's policy is left as it was. A node this enroll created is removed
    again, unless it holds a credential: then the device may already have the generated
    password (``amt-admin-pending``), which must not be lost, so the node stays, not enrolled.
    """
    try:
        result = await enrollment
    except MewardenError as exc:
        held = store.credential_purposes(name)
        store.record("node.enroll-failed", name, error=type(exc).__name__, kept=list(held))
        if created and not held:
            store.remove_node(name)
        raise
    documents = attach_reports(store, name, reports)
    store.set_policy(name, Policy.USE)
    return EnrollResult(
        node=result.node,
        policy=Policy.USE,
        identity=result.identity,
        tls_pin=result.tls_pin,
        documents=(*result.documents, *documents),
    )
