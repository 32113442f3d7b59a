"""The enrollment workflow against an in-memory device, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
from pathlib import Path

import pytest

from mewarden.amt.accounts import check_password_strength
from mewarden.crypto.vault import OrgKey, unseal
from mewarden.errors import AmtAuthError, AmtUnreachableError, BadInputError, StateError
from mewarden.secret import Secret
from mewarden.state.db import sqlite_path
from mewarden.state.enroll import (
    PENDING,
    AmtObservation,
    AmtProfile,
    Reports,
    enroll_use,
    enroll_use_or_undo,
    enroll_with_reports,
    generate_password,
    validate_reports,
)
from mewarden.state.fleet import fleet_status
from mewarden.state.models import DocumentKind, Lifecycle, NodeSpec, Policy, Purpose
from mewarden.state.status import Compliance
from mewarden.state.store import Store
from tests.state.conftest import PgCluster
from tests.state.fakes import FakeDevice

ADMIN = Purpose.AMT_ADMIN.value


def test_generated_passwords_meet_amt_rules() -> None:
    """AMT's own rule checker (mewarden.amt.accounts) accepts every generated password."""
    seen = {generate_password().reveal() for _ in range(200)}
    assert len(seen) == 200
    for text in seen:
        check_password_strength(Secret(text))


def _enroll(store: Store, key: OrgKey, name: str, device: FakeDevice) -> None:
    asyncio.run(enroll_use(store, key, name, device, AmtProfile(sol=True, ider=False)))


def test_use_enrollment_records_everything(store: Store, org_key: OrgKey) -> None:
    store.add_node(NodeSpec(name="n1", amt_host="10.0.0.1", amt_tls=True, policy=Policy.USE))
    device = FakeDevice(index=7)
    _enroll(store, org_key, "n1", device)
    node = store.node("n1")
    assert node.lifecycle is Lifecycle.ENROLLED
    assert node.tls_pin == hashlib.sha256(b"cert-7").hexdigest()
    assert node.macs == ("02:00:00:00:00:07",)
    assert device.password != "P@ssw0rd1"
    user, sealed = store.credential("n1", ADMIN)
    assert user == "admin"
    assert unseal(org_key, sealed, node="n1", purpose=ADMIN).reveal() == device.password
    with pytest.raises(StateError):
        store.credential("n1", PENDING)
    identity = json.loads(store.documents("n1", DocumentKind.AMT_IDENTITY)[0].body)
    assert identity["identity"]["digest_realm"] == "Digest:00000000000000000000000000000007"
    assert device.profile == AmtProfile(sol=True, ider=False)
    [status] = fleet_status(store)
    assert status.status is Compliance.COMPLIANT


def test_wrong_credentials_write_nothing(store: Store, org_key: OrgKey) -> None:
    store.add_node(NodeSpec(name="n1", amt_host="10.0.0.1", policy=Policy.USE))
    device = FakeDevice(index=1, offered="wrong")
    with pytest.raises(AmtAuthError):
        _enroll(store, org_key, "n1", device)
    assert store.node("n1").lifecycle is Lifecycle.REGISTERED
    assert store.credential_count() == 0
    assert store.documents("n1") == []
    assert fleet_status(store)[0].status is Compliance.UNKNOWN


def test_failure_after_password_change_keeps_a_recoverable_password(
    store: Store, org_key: OrgKey
) -> None:
    """The new password is vaulted (pending) before the device changes: never lost."""
    store.add_node(NodeSpec(name="n1", amt_host="10.0.0.1", policy=Policy.USE))
    device = FakeDevice(index=1, fail_at="password")
    with pytest.raises(AmtUnreachableError):
        _enroll(store, org_key, "n1", device)
    _, sealed = store.credential("n1", PENDING)
    pending = unseal(org_key, sealed, node="n1", purpose=PENDING).reveal()
    check_password_strength(Secret(pending))
    assert store.node("n1").lifecycle is Lifecycle.REGISTERED


def test_neutralize_enrollment_attaches_reports(store: Store) -> None:
    store.add_node(NodeSpec(name="n1"))
    report = json.dumps({"verification": {"strap_set": True, "fpt_checksum_valid": True}})
    probe = json.dumps({"schema_version": 1, "verdict": "hap-disabled"})
    reports = {
        DocumentKind.FIRMWARE_NEUTRALIZE: ("n.json", report.encode()),
        DocumentKind.HOST_PROBE: ("p.json", probe.encode()),
    }
    result = enroll_with_reports(store, "n1", Policy.NEUTRALIZE, reports)
    assert result.documents == ("firmware-neutralize", "host-probe")
    [status] = fleet_status(store)
    assert (status.policy, status.status) == ("neutralize", Compliance.UNKNOWN)
    assert "no netblock state" in status.reasons[-1]
    later = json.dumps({"schema_version": 1, "verdict": "running"})
    store.attach_document("n1", DocumentKind.HOST_PROBE, "p2.json", later)
    [status] = fleet_status(store)
    assert status.status is Compliance.DRIFT
    assert "ME running" in status.reasons[0]


def test_neutralize_needs_a_valid_report(store: Store) -> None:
    store.add_node(NodeSpec(name="n1"))
    with pytest.raises(BadInputError, match="needs the"):
        enroll_with_reports(store, "n1", Policy.NEUTRALIZE, {})
    bad = {DocumentKind.FIRMWARE_NEUTRALIZE: ("n.json", b"{not json")}
    with pytest.raises(BadInputError, match="not valid JSON"):
        enroll_with_reports(store, "n1", Policy.NEUTRALIZE, bad)
    assert store.documents("n1") == []
    assert store.node("n1").policy is None


def test_failed_neutralize_verification_is_drift(store: Store) -> None:
    store.add_node(NodeSpec(name="n1", policy=Policy.NEUTRALIZE))
    report = json.dumps({"verification": {"strap_set": False}})
    store.attach_document("n1", DocumentKind.FIRMWARE_NEUTRALIZE, "n.json", report)
    [status] = fleet_status(store)
    assert status.status is Compliance.DRIFT
    assert "strap_set" in status.reasons[0]


@pytest.mark.slow
def test_thousand_enrollments_compliant_no_plaintext_rotate(
    store: Store, org_key: OrgKey, db_url: str, pg_cluster: PgCluster | None
) -> None:
    """1,000 use enrollments: all compliant, no password in the DB bytes, rotation keeps all."""
    count = 1000
    specs = [
        NodeSpec(
            name=f"node{i:04d}",
            amt_host=f"10.1.{i // 250}.{i % 250 + 1}",
            amt_tls=True,
            policy=Policy.USE,
        )
        for i in range(count)
    ]
    store.add_nodes(specs)
    devices = [FakeDevice(index=i) for i in range(count)]

    async def all_of_them() -> None:
        profile = AmtProfile()
        for spec, device in zip(specs, devices, strict=True):
            await enroll_use(store, org_key, spec.name, device, profile)

    asyncio.run(all_of_them())
    statuses = fleet_status(store)
    assert [s.status for s in statuses] == [Compliance.COMPLIANT] * count
    passwords = [d.password for d in devices]
    assert len(set(passwords)) == count
    raw = _database_bytes(db_url, pg_cluster)
    assert b"node0999" in raw  # the dump really holds the data
    leaked = [p for p in passwords if p.encode() in raw]
    assert leaked == []
    new = OrgKey.generate()
    assert store.rotate_key(org_key, new) == count
    for spec, password in zip(specs, passwords, strict=True):
        _, sealed = store.credential(spec.name, ADMIN)
        assert unseal(new, sealed, node=spec.name, purpose=ADMIN).reveal() == password


def _database_bytes(db_url: str, pg_cluster: PgCluster | None) -> bytes:
    path = sqlite_path(db_url)
    if path is not None:
        files = [path, Path(f"{path}-wal")]
        return b"".join(f.read_bytes() for f in files if f.exists())
    assert pg_cluster is not None
    return pg_cluster.dump(db_url)


def test_static_network_is_applied_after_the_password_and_followed(
    store: Store, org_key: OrgKey
) -> None:
    from mewarden.amt.network import AddressMode, EthernetChange

    store.add_node(NodeSpec(name="n1", amt_host="10.0.0.1", policy=Policy.USE))
    device = FakeDevice(index=3)
    static = EthernetChange(
        mode=AddressMode.STATIC,
        ip_address="10.0.9.9",
        subnet_mask="255.255.0.0",
        default_gateway="10.0.0.254",
    )
    asyncio.run(enroll_use(store, org_key, "n1", device, AmtProfile(network=static)))
    assert device.network == static
    assert device.password_changes  # rotated before the device may move
    assert store.node("n1").amt_host == "10.0.9.9"
    assert store.node("n1").lifecycle is Lifecycle.ENROLLED


def test_failed_network_step_leaves_the_node_unenrolled_but_credentials_readable(
    store: Store, org_key: OrgKey
) -> None:
    from mewarden.amt.network import AddressMode, EthernetChange

    store.add_node(NodeSpec(name="n1", amt_host="10.0.0.1", policy=Policy.USE))
    device = FakeDevice(index=4, fail_at="network")
    profile = AmtProfile(network=EthernetChange(mode=AddressMode.DHCP))
    with pytest.raises(AmtUnreachableError):
        asyncio.run(enroll_use(store, org_key, "n1", device, profile))
    assert store.node("n1").lifecycle is not Lifecycle.ENROLLED
    assert store.node("n1").amt_host == "10.0.0.1"
    _user, sealed = store.credential("n1", ADMIN)  # the rotated password is not lost
    assert unseal(org_key, sealed, node="n1", purpose=ADMIN).reveal() == device.password


def _undoable(
    store: Store, key: OrgKey, device: FakeDevice, *, created: bool, reports: Reports
) -> None:
    attempt = enroll_use(store, key, "n1", device, AmtProfile())
    asyncio.run(enroll_use_or_undo(store, "n1", attempt, created=created, reports=reports))


def test_failed_new_node_is_kept_while_it_holds_the_pending_password(
    store: Store, org_key: OrgKey
) -> None:
    """The device may already have the generated password: the node and vault entry stay."""
    store.add_node(NodeSpec(name="n1", amt_host="10.0.0.1"))
    device = FakeDevice(index=1, fail_at="password")
    with pytest.raises(AmtUnreachableError):
        _undoable(store, org_key, device, created=True, reports={})
    node = store.node("n1")
    assert (node.lifecycle, node.policy) == (Lifecycle.REGISTERED, None)
    assert store.credential_purposes("n1") == (PENDING,)
    _, sealed = store.credential("n1", PENDING)
    check_password_strength(unseal(org_key, sealed, node="n1", purpose=PENDING))
    assert store.events(node="n1")[-1].detail["kept"] == [PENDING]


def test_failed_new_node_without_credentials_is_removed(store: Store, org_key: OrgKey) -> None:
    store.add_node(NodeSpec(name="n1", amt_host="10.0.0.1"))
    with pytest.raises(AmtUnreachableError):
        _undoable(store, org_key, FakeDevice(index=1, fail_at="profile"), created=True, reports={})
    assert store.nodes() == []
    assert [e.kind for e in store.events(node="n1")][-2:] == ["node.enroll-failed", "node.remove"]


def test_successful_use_enroll_sets_policy_and_attaches_the_probe(
    store: Store, org_key: OrgKey
) -> None:
    store.add_node(NodeSpec(name="n1", amt_host="10.0.0.1", amt_tls=True))
    probe = json.dumps({"schema_version": 1, "verdict": "running", "amt": "ccm"})
    reports = validate_reports(Policy.USE, {DocumentKind.HOST_PROBE: ("p.json", probe.encode())})
    _undoable(store, org_key, FakeDevice(index=2), created=True, reports=reports)
    node = store.node("n1")
    assert (node.policy, node.lifecycle) == (Policy.USE, Lifecycle.ENROLLED)
    kinds = [d.kind for d in store.documents("n1")]
    assert kinds == [DocumentKind.AMT_IDENTITY, DocumentKind.HOST_PROBE]
    assert store.credential_purposes("n1") == (ADMIN,)
    assert [e.detail for e in store.events(node="n1") if e.kind == "credential.delete"] == [
        {"purpose": PENDING}
    ]


@pytest.mark.parametrize(
    ("probe", "message"),
    [
        ({"verdict": "running"}, "schema_version"),
        ({"schema_version": True, "verdict": "running"}, "schema_version"),
        ({"schema_version": "1", "verdict": "running"}, "schema_version"),
        ({"schema_version": 1, "verdict": "sleeping"}, "verdict must be"),
        ({"schema_version": 1}, "verdict must be"),
    ],
)
def test_host_probe_documents_are_checked(probe: dict[str, object], message: str) -> None:
    raw = {DocumentKind.HOST_PROBE: ("p.json", json.dumps(probe).encode())}
    with pytest.raises(BadInputError, match=message):
        validate_reports(Policy.IGNORE, raw)


def test_a_garbled_reported_mac_does_not_fail_the_enrollment(store: Store, org_key: OrgKey) -> None:
    store.add_node(NodeSpec(name="n1", amt_host="10.0.0.1"))
    device = FakeDevice(index=5)
    observed = asyncio.run(device.read_identity())
    garbled = dataclasses.replace(observed, macs=("02:00:00:00:17a:e8", device.mac))

    async def identity() -> AmtObservation:
        return garbled

    device.read_identity = identity  # type: ignore[method-assign]
    _enroll(store, org_key, "n1", device)
    node = store.node("n1")
    assert (node.lifecycle, node.macs) == (Lifecycle.ENROLLED, (device.mac,))
