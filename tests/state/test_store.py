"""Store behaviour on SQLite and PostgreSQL: schema, nodes, groups, inheritance, audit."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from mewarden.errors import BadInputError, DuplicateError, NodeNotFoundError, StateError
from mewarden.state.db import current_revision, head_revision, open_engine, schema_drift
from mewarden.state.models import DocumentKind, Lifecycle, NodeSpec, Policy, parse_policy
from mewarden.state.store import Store


def test_migration_matches_metadata(store: Store) -> None:
    """Alembic autogenerate finds nothing to change after `upgrade head` (drift check)."""
    assert current_revision(store.engine) == head_revision()
    assert schema_drift(store.engine) == []


def test_add_and_read_node(store: Store) -> None:
    spec = NodeSpec(
        name="n1", amt_host="10.0.0.5", amt_port=16993, amt_tls=True, macs=("AA:BB:CC:00:11:22",)
    )
    node = store.add_node(spec)
    assert node.name == "n1"
    assert node.amt_tls is True
    assert node.macs == ("aa:bb:cc:00:11:22",)
    assert node.lifecycle is Lifecycle.REGISTERED
    assert node.effective_policy is Policy.IGNORE  # the default
    assert node.policy_source == "org"
    assert [n.name for n in store.nodes()] == ["n1"]


def test_duplicate_node_is_refused_and_nothing_half_written(store: Store) -> None:
    store.add_node(NodeSpec(name="n1"))
    before = len(store.events())
    with pytest.raises(DuplicateError, match="already exists"):
        store.add_node(NodeSpec(name="n1", amt_host="elsewhere"))
    assert store.node("n1").amt_host is None
    assert len(store.events()) == before


def test_unknown_group_writes_nothing(store: Store) -> None:
    with pytest.raises(StateError, match="no group"):
        store.add_node(NodeSpec(name="n1", group="nope"))
    with pytest.raises(NodeNotFoundError):
        store.node("n1")


def test_policy_inheritance_node_over_group_over_org(store: Store) -> None:
    store.add_group("lab", Policy.NEUTRALIZE)
    store.add_node(NodeSpec(name="a", group="lab"))
    store.add_node(NodeSpec(name="b", group="lab", policy=Policy.USE))
    store.add_node(NodeSpec(name="c"))
    assert (store.node("a").effective_policy, store.node("a").policy_source) == (
        Policy.NEUTRALIZE,
        "group",
    )
    assert store.node("b").effective_policy is Policy.USE
    assert store.node("c").effective_policy is Policy.IGNORE
    store.set_group_policy("lab", None)
    assert store.node("a").effective_policy is Policy.IGNORE
    store.set_policy("b", None)
    assert store.node("b").policy_source == "org"
    groups = {g.name: g.nodes for g in store.list_groups()}
    assert groups == {"lab": 2}
    with pytest.raises(StateError, match="still has 2"):
        store.remove_group("lab")


def test_unknown_policy_is_bad_input() -> None:
    with pytest.raises(BadInputError, match="unknown policy 'usee'"):
        parse_policy("usee")


def test_documents_are_append_only_with_hash(store: Store) -> None:
    store.add_node(NodeSpec(name="n1"))
    body1 = json.dumps({"hap": True})
    body2 = json.dumps({"hap": False})
    store.attach_document("n1", DocumentKind.FIRMWARE_NEUTRALIZE, "a.json", body1)
    store.attach_document("n1", DocumentKind.FIRMWARE_NEUTRALIZE, "b.json", body2)
    docs = store.documents("n1", DocumentKind.FIRMWARE_NEUTRALIZE)
    assert [d.body for d in docs] == [body1, body2]
    import hashlib

    assert docs[0].sha256 == hashlib.sha256(body1.encode()).hexdigest()
    assert store.documents("n1", DocumentKind.HOST_PROBE) == []


def test_events_record_every_change_and_filter(store: Store) -> None:
    now = [datetime(2026, 1, 1, 12, 0, tzinfo=UTC)]
    store.clock = lambda: now[0]
    store.add_node(NodeSpec(name="a"))
    store.add_node(NodeSpec(name="b"))
    now[0] = datetime(2026, 1, 1, 13, 0, tzinfo=UTC)
    store.set_policy("a", Policy.USE)
    store.remove_node("b")
    kinds = [(e.node, e.kind) for e in store.events()]
    assert ("a", "node.add") in kinds
    assert ("b", "node.remove") in kinds
    assert [e.kind for e in store.events(node="a")] == ["node.add", "node.set-policy"]
    assert store.events(node="a")[1].detail == {"policy": "use"}
    since = datetime(2026, 1, 1, 12, 30, tzinfo=UTC)
    later = store.events(since=since)
    assert [(e.node, e.kind) for e in later if e.node] == [
        ("a", "node.set-policy"),
        ("b", "node.remove"),
    ]


def test_remove_node_keeps_its_events(store: Store) -> None:
    store.add_node(NodeSpec(name="gone"))
    store.attach_document("gone", DocumentKind.HOST_PROBE, "p.json", "{}")
    store.remove_node("gone")
    with pytest.raises(NodeNotFoundError):
        store.node("gone")
    assert store.events(node="gone")[-1].kind == "node.remove"


def test_add_mac_and_lifecycle(store: Store) -> None:
    store.add_node(NodeSpec(name="n1"))
    store.add_mac("n1", "00-11-22-33-44-55")
    node = store.set_lifecycle("n1", Lifecycle.ENROLLED)
    assert node.macs == ("00:11:22:33:44:55",)
    assert node.lifecycle is Lifecycle.ENROLLED
    assert node.version == 3


def test_uninitialized_database_is_reported(db_url: str) -> None:
    engine = open_engine(db_url, create_dir=True)
    from mewarden.crypto.vault import OrgKey
    from mewarden.state.db import migrate

    migrate(engine)
    with pytest.raises(StateError, match="not initialized"):
        Store(engine).check_key(OrgKey.generate())
    engine.dispose()


def test_lease_claim_fencing(store: Store) -> None:
    from mewarden.errors import LeaseLostError
    from mewarden.state import leases

    now = [datetime(2026, 1, 1, tzinfo=UTC)]
    store.clock = lambda: now[0]
    store.add_node(NodeSpec(name="n1"))
    first = leases.claim(store, "n1", "ctl-a", timedelta(seconds=30))
    assert first is not None
    assert leases.claim(store, "n1", "ctl-b", timedelta(seconds=30)) is None
    now[0] += timedelta(seconds=31)  # ctl-a stalled past its lease
    second = leases.claim(store, "n1", "ctl-b", timedelta(seconds=30))
    assert second is not None
    assert second.epoch == first.epoch + 1
    with pytest.raises(LeaseLostError):
        leases.renew(store, first, timedelta(seconds=30))
    with pytest.raises(LeaseLostError):
        leases.release(store, first)
    leases.renew(store, second, timedelta(seconds=30))
    leases.release(store, second)
    third = leases.claim_any(store, "ctl-c", timedelta(seconds=30))
    assert third is not None
    assert (third.node, third.epoch) == ("n1", second.epoch + 1)
    assert leases.claim_any(store, "ctl-d", timedelta(seconds=30)) is None


def test_check_fence_inside_a_write(store: Store) -> None:
    from mewarden.errors import LeaseLostError
    from mewarden.state import leases

    now = [datetime(2026, 1, 1, tzinfo=UTC)]
    store.clock = lambda: now[0]
    store.add_node(NodeSpec(name="n1"))
    old = leases.claim(store, "n1", "ctl-a", timedelta(seconds=10))
    assert old is not None
    with store.engine.begin() as conn:
        leases.check_fence(conn, old)
    now[0] += timedelta(seconds=11)
    new = leases.claim(store, "n1", "ctl-b", timedelta(seconds=10))
    assert new is not None
    with pytest.raises(LeaseLostError), store.engine.begin() as conn:
        leases.check_fence(conn, old)
    with store.engine.begin() as conn:
        leases.check_fence(conn, new)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": "n" * 129}, "at most 128"),
        ({"name": "a\x00b"}, "control character"),
        ({"name": " "}, "must not be empty"),
        ({"name": "n", "amt_host": "10.0.0.1\x00"}, "control character"),
        ({"name": "n", "amt_username": "u" * 65}, "at most 64"),
        ({"name": "n", "agent_address": "a" * 256}, "at most 255"),
        ({"name": "n", "group": "g" * 129}, "at most 128"),
        ({"name": "n", "macs": ("not-a-mac",)}, "not a MAC"),
        ({"name": "n", "macs": ("aa:bb:cc-dd:ee:ff",)}, "not a MAC"),
        ({"name": "n", "amt_port": True}, "not an integer"),
        ({"name": "n", "amt_port": 0}, "out of range"),
    ],
)
def test_node_spec_refuses_what_the_schema_cannot_hold(
    fields: dict[str, object], message: str
) -> None:
    with pytest.raises(BadInputError, match=message):
        NodeSpec(**fields)  # type: ignore[arg-type]


def test_group_names_and_macs_are_checked_before_writing(store: Store) -> None:
    events = len(store.events())
    with pytest.raises(BadInputError, match="at most 128"):
        store.add_group("g" * 129)
    with pytest.raises(BadInputError, match="control character"):
        store.add_group("g\x00")
    store.add_node(NodeSpec(name="n1", macs=("AA-BB-CC-DD-EE-FF",)))
    assert store.node("n1").macs == ("aa:bb:cc:dd:ee:ff",)
    with pytest.raises(BadInputError, match="not a MAC"):
        store.add_mac("n1", "not-a-mac")
    assert len(store.events()) == events + 1


def test_driver_errors_are_one_line_state_errors(store: Store) -> None:
    """PostgreSQL refuses NUL in text; the store says so in one line without the SQL."""
    if store.engine.dialect.name == "postgresql":
        with pytest.raises(StateError, match=r"^org database error: ") as caught:
            store.events(node="x\x00y")
        assert "SELECT" not in str(caught.value)
        assert "\n" not in str(caught.value)
    else:  # SQLite stores any text: the same query simply matches nothing
        assert store.events(node="x\x00y") == []


def test_cli_maps_escaped_driver_errors_to_one_line() -> None:
    import sqlalchemy.exc

    from mewarden.cli.failure import database_error_of

    orig = Exception('value too long for type character varying(128)\nDETAIL: "x"')
    exc = sqlalchemy.exc.DataError("INSERT INTO nodes ...", {}, orig)
    mapped = database_error_of(exc)
    assert isinstance(mapped, StateError)
    assert str(mapped) == "org database error: value too long for type character varying(128)"
    assert database_error_of(ValueError("x")) is None


def test_events_since_compares_in_utc(store: Store) -> None:
    tz = timezone(timedelta(hours=2))
    at = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    timed = Store(store.engine, actor="t", clock=lambda: at)
    timed.record("a.thing", "n1")
    assert [
        e.kind for e in store.events(node="n1", since=datetime(2026, 11, 25, 11, 59, tzinfo=tz))
    ] == ["a.thing"]
    assert store.events(node="n1", since=datetime(2026, 11, 25, 12, 1, tzinfo=tz)) == []
