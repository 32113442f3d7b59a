"""Pushed heartbeats: HMAC and replay rules (pure), the receiver (SQLite, loopback), a scenario."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import hmac
from pathlib import Path

import httpx
import pytest

from mewarden.emulate.heartbeat import push_heartbeats
from mewarden.errors import BadInputError, StateError
from mewarden.heal import heartbeat
from mewarden.heal.controller import Controller, ControllerOptions
from mewarden.heal.heartbeat import Rejection
from mewarden.heal.heartbeat_receiver import HeartbeatReceiver
from mewarden.heal.probe import NodeIo
from mewarden.state import heal_store
from mewarden.state.db import migrate, open_engine
from mewarden.state.models import NodeSpec, Policy
from mewarden.state.store import Store
from tests.heal.harness import (
    FAST,
    fleet_of,
    has_event,
    heal_events,
    power_requests,
    register,
    run_until,
    sqlite_store,
)

KEY = bytes(range(32))
OTHER = bytes(range(1, 33))


def test_signature_covers_the_exact_body_and_the_key() -> None:
    body, sig = heartbeat.encode("n1", 7, KEY)
    assert heartbeat.verify(KEY, body, sig)
    assert heartbeat.verify(KEY, body, sig.upper() + " ")
    assert not heartbeat.verify(OTHER, body, sig)
    assert not heartbeat.verify(KEY, body.replace(b"7", b"8"), sig)
    assert not heartbeat.verify(KEY, body + b" ", sig)
    assert not heartbeat.verify(KEY, body, "")
    # domain-separated: not a bare HMAC-SHA256 of the body
    assert sig != hmac.new(KEY, body, hashlib.sha256).hexdigest()
    assert sig == hmac.new(KEY, b"mewarden-heartbeat-v1\n" + body, hashlib.sha256).hexdigest()


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"[1, 2]",
        b'{"node": "n1"}',
        b'{"node": "", "counter": 1}',
        b'{"node": 5, "counter": 1}',
        b'{"node": "n1", "counter": true}',
        b'{"node": "n1", "counter": -1}',
        b'{"node": "n1", "counter": 1.5}',
        b'{"node": "n1", "counter": 9223372036854775808}',
        b'{"node": "n1", "counter": 1, "pad": "' + b"x" * 2000 + b'"}',
        b"\xff\xfe",
    ],
)
def test_bodies_that_are_not_heartbeats(body: bytes) -> None:
    assert heartbeat.parse(body) is None


def test_key_file_round_trip_and_bad_files() -> None:
    text = heartbeat.key_file_text("n1", KEY)
    assert heartbeat.key_from_file_text(text) == ("n1", KEY)
    for bad in ("", "{}", "[]", text.replace(KEY.hex(), "abcd"), text.replace("v1", "v0")):
        with pytest.raises(BadInputError):
            heartbeat.key_from_file_text(bad)


def _store(tmp_path: Path, *names: str) -> Store:
    store = sqlite_store(tmp_path)
    for name in names:
        store.add_node(NodeSpec(name=name, policy=Policy.USE, amt_host="127.0.0.9"))
    return store


def test_receiver_accepts_rising_counters_and_refuses_replays(tmp_path: Path) -> None:
    store = _store(tmp_path, "n1", "n2")
    keys = {"n1": KEY}
    now = [1000.0]
    receiver = HeartbeatReceiver(store, keys.get, clock=lambda: now[0])
    first, sig = heartbeat.encode("n1", 5, KEY)
    assert receiver.accept(first, sig) is None
    assert receiver.accept(first, sig) is Rejection.REPLAY  # the same message again
    older, older_sig = heartbeat.encode("n1", 4, KEY)
    assert receiver.accept(older, older_sig) is Rejection.REPLAY
    now[0] = 1010.0
    later, later_sig = heartbeat.encode("n1", 6, KEY)
    assert receiver.accept(later, later_sig) is None
    assert receiver.accept(later, heartbeat.signature(OTHER, later)) is Rejection.BAD_SIGNATURE
    forged, forged_sig = heartbeat.encode("n2", 9, OTHER)  # n2 has no heartbeat key
    assert receiver.accept(forged, forged_sig) is Rejection.UNKNOWN_KEY
    assert receiver.accept(later, None) is Rejection.MALFORMED
    assert heal_store.stale_heartbeats(store, before=1010.0) == set()
    assert heal_store.stale_heartbeats(store, before=1010.5) == {"n1"}
    # a new key takes effect without a restart (the cached one is checked against the vault)
    keys["n1"] = OTHER
    rotated, rotated_sig = heartbeat.encode("n1", 7, OTHER)
    assert receiver.accept(rotated, rotated_sig) is None
    stale, stale_sig = heartbeat.encode("n1", 8, KEY)
    assert receiver.accept(stale, stale_sig) is Rejection.BAD_SIGNATURE
    sample = receiver.metrics.registry.get_sample_value
    assert sample("mewarden_heal_heartbeats_total", {"result": "accepted"}) == 3
    assert sample("mewarden_heal_heartbeats_total", {"result": "replay"}) == 2


def test_two_receivers_share_one_counter(db_url: str) -> None:
    """Any replica may receive a node's heartbeat: the counter check is one atomic upsert in
    org state, so a heartbeat replayed to another replica (or raced to two) is taken once."""
    engine = open_engine(db_url, create_dir=True)
    migrate(engine)
    a = HeartbeatReceiver(Store(engine, actor="a"), {"n1": KEY}.get, clock=lambda: 5.0)
    b = HeartbeatReceiver(Store(engine, actor="b"), {"n1": KEY}.get, clock=lambda: 6.0)
    body, sig = heartbeat.encode("n1", 1, KEY)
    assert a.accept(body, sig) is None
    assert b.accept(body, sig) is Rejection.REPLAY  # replayed to another replica
    body, sig = heartbeat.encode("n1", 2, KEY)
    assert b.accept(body, sig) is None
    assert heal_store.stale_heartbeats(a.store, before=6.0) == set()
    assert heal_store.stale_heartbeats(a.store, before=6.5) == {"n1"}

    async def race() -> list[Rejection | None]:
        body, sig = heartbeat.encode("n1", 3, KEY)
        return list(
            await asyncio.gather(
                asyncio.to_thread(a.accept, body, sig), asyncio.to_thread(b.accept, body, sig)
            )
        )

    assert sorted(str(r) for r in asyncio.run(race())) == ["None", "replay"]
    engine.dispose()


def test_receiver_over_loopback(tmp_path: Path) -> None:
    store = _store(tmp_path, "n1")

    async def scenario() -> list[int]:
        receiver = HeartbeatReceiver(store, {"n1": KEY}.get)
        server = await receiver.serve("127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        url = f"http://127.0.0.1:{port}"
        body, sig = heartbeat.encode("n1", 42, KEY)
        head = {heartbeat.SIGNATURE_HEADER: sig}
        try:
            async with httpx.AsyncClient(timeout=2.0) as client:
                codes = [
                    (await client.post(url + "/heartbeat", content=body, headers=head)).status_code,
                    (await client.post(url + "/heartbeat", content=body, headers=head)).status_code,
                    (await client.post(url + "/heartbeat", content=body)).status_code,
                    (await client.get(url + "/heartbeat")).status_code,
                    (await client.post(url + "/other", content=body, headers=head)).status_code,
                    (await client.post(url + "/heartbeat", content=b"x" * 5000)).status_code,
                ]
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"\x16\x03\x01 not http\r\n\r\n")
            codes.append(len(await asyncio.wait_for(reader.read(), 3.0)))
            writer.close()
        finally:
            server.close()
            await server.wait_closed()
        return codes

    assert asyncio.run(scenario()) == [204, 409, 400, 405, 404, 413, 0]
    assert heal_store.stale_heartbeats(store, before=float("inf")) == {"n1"}


def test_stale_heartbeat_gets_a_hung_host_probed_despite_healthy_poll(tmp_path: Path) -> None:
    """Both hosts hang; only n0000 pushes heartbeats. With a long healthy_poll_s the pass skips
    both, but n0000's stale heartbeat gets it probed, and the probe (never the heartbeat)
    starts its incident: one power cycle. n0001 is not even looked at meanwhile."""
    settings = dataclasses.replace(FAST, heartbeat_stale_s=0.4)

    async def scenario() -> None:
        async with fleet_of(3) as fleet:
            store = sqlite_store(tmp_path)
            names = register(store, fleet)
            receiver = HeartbeatReceiver(store, {names[0]: KEY}.get)
            server = await receiver.serve("127.0.0.1", 0)
            port = server.sockets[0].getsockname()[1]
            sender = asyncio.create_task(
                push_heartbeats(
                    fleet.devices[0],
                    node=names[0],
                    key=KEY,
                    host="127.0.0.1",
                    port=port,
                    interval_s=0.1,
                )
            )
            io = NodeIo(lambda _name: fleet.password, timeout_s=0.5)
            options = ControllerOptions(owner="ctl-a", healthy_poll_s=600.0)
            ctl = Controller(Store(store.engine, actor="ctl-a"), io, settings, options)
            try:
                await run_until(
                    ctl, lambda: heal_store.stale_heartbeats(store, before=float("inf")) != set()
                )
                await ctl.tick()  # everyone probed once, healthy
                for dev in fleet.devices[:2]:
                    fleet.inject_fault(dev.address, "hang-host")
                await run_until(ctl, has_event(store, names[0], "heal.recovered"))
            finally:
                sender.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sender
                server.close()
                await ctl.close()
            assert power_requests(fleet, fleet.devices[0].address) == ["8", "2"]
            assert power_requests(fleet, fleet.devices[1].address) == []
            assert heal_events(store, names[1]) == []
            kinds = [e.kind for e in heal_events(store, names[0])]
            assert kinds[:2] == ["heal.suspect", "heal.power-cycle"]

    asyncio.run(scenario())


def test_fresh_forged_heartbeats_do_not_hold_off_healing(tmp_path: Path) -> None:
    """Someone with the key keeps n0000's heartbeat fresh while its host is hung: the agent
    probe still decides, and the host gets its power cycle."""
    settings = dataclasses.replace(FAST, heartbeat_stale_s=0.4)

    async def forge(receiver: HeartbeatReceiver, node: str) -> None:
        for counter in range(1, 10_000):
            body, sig = heartbeat.encode(node, counter, KEY)
            assert receiver.accept(body, sig) is None
            await asyncio.sleep(0.05)

    async def scenario() -> None:
        async with fleet_of(3) as fleet:
            store = sqlite_store(tmp_path)
            names = register(store, fleet)
            receiver = HeartbeatReceiver(store, {names[0]: KEY}.get)
            forger = asyncio.create_task(forge(receiver, names[0]))
            io = NodeIo(lambda _name: fleet.password, timeout_s=0.5)
            options = ControllerOptions(owner="ctl-a", healthy_poll_s=600.0)
            ctl = Controller(Store(store.engine, actor="ctl-a"), io, settings, options)
            fleet.inject_fault(fleet.devices[0].address, "hang-host")
            try:
                await run_until(ctl, has_event(store, names[0], "heal.recovered"))
            finally:
                forger.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await forger
                await ctl.close()
            assert heal_store.stale_heartbeats(store, before=float("inf")) == {names[0]}
            assert power_requests(fleet, fleet.devices[0].address) == ["8", "2"]

    asyncio.run(scenario())


def test_receiver_answers_503_when_org_state_fails(tmp_path: Path) -> None:
    def broken(_node: str) -> bytes | None:
        raise StateError("org database error: disk I/O error")

    async def scenario() -> int:
        receiver = HeartbeatReceiver(_store(tmp_path), broken)
        server = await receiver.serve("127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        body, sig = heartbeat.encode("n1", 1, KEY)
        try:
            async with httpx.AsyncClient(timeout=2.0) as client:
                url = f"http://127.0.0.1:{port}/heartbeat"
                head = {heartbeat.SIGNATURE_HEADER: sig}
                return (await client.post(url, content=body, headers=head)).status_code
        finally:
            server.close()
            await server.wait_closed()

    assert asyncio.run(scenario()) == 503
