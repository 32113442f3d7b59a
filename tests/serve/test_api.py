"""The REST API against org state and emulated AMT devices."""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.serve.org import Emulator, Org, attach_emulator, make_org, running_server


@pytest.fixture
def org(tmp_path: Path) -> Org:
    return make_org(tmp_path, nodes=12)


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    emu = Emulator(nodes=2)
    yield emu
    emu.stop()


def _auth(org: Org, role: str) -> dict[str, str]:
    return {"authorization": f"Bearer {org.tokens[role]}"}


def test_node_list_filters_sorts_and_pages(org: Org) -> None:
    client = org.client()
    h = _auth(org, "viewer")
    page = client.get("/api/v1/nodes?limit=5&offset=5&sort=-name", headers=h).json()
    assert page["total"] == 12
    assert [n["name"] for n in page["nodes"]] == ["n4", "n3", "n2", "n11", "n10"]
    found = client.get("/api/v1/nodes?search=n1", headers=h).json()
    assert sorted(n["name"] for n in found["nodes"]) == ["n1", "n10", "n11"]
    org.store.set_policy("n3", None)
    org.store.add_group("lab")
    org.store.set_group("n3", "lab")
    ignored = client.get("/api/v1/nodes?policy=ignore", headers=h).json()
    assert [n["name"] for n in ignored["nodes"]] == ["n3"]
    assert ignored["nodes"][0]["policy_source"] == "org"
    used = client.get("/api/v1/nodes?policy=use&group=rack1", headers=h).json()
    assert used["total"] == 11
    odd = client.get("/api/v1/nodes?search=%25", headers=h).json()
    assert odd["total"] == 0


def test_node_add_group_policy_and_detail(org: Org) -> None:
    client = org.client()
    op, admin = _auth(org, "operator"), _auth(org, "admin")
    added = client.post(
        "/api/v1/nodes", json={"name": "new1", "macs": ["AA-BB-CC-DD-EE-01"]}, headers=op
    )
    assert added.status_code == 201
    assert added.json()["macs"] == ["aa:bb:cc:dd:ee:01"]
    again = client.post("/api/v1/nodes", json={"name": "new1"}, headers=op)
    assert again.status_code == 409
    assert again.json()["error"]["type"] == "DuplicateError"
    assert (
        client.put("/api/v1/nodes/new1/group", json={"group": "rack1"}, headers=op).json()[
            "effective_policy"
        ]
        == "use"
    )
    assert (
        client.put(
            "/api/v1/nodes/new1/policy", json={"policy": "neutralize"}, headers=admin
        ).json()["policy_source"]
        == "node"
    )
    bad = client.put("/api/v1/nodes/new1/policy", json={"policy": "melt"}, headers=admin)
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == 2
    detail = client.get("/api/v1/nodes/new1", headers=op).json()
    assert detail["node"]["effective_policy"] == "neutralize"
    assert [e["kind"] for e in detail["events"]][:3] == [
        "node.set-policy",
        "node.set-group",
        "node.add",
    ]
    assert (
        client.post(
            "/api/v1/groups", json={"name": "g2", "policy": "ignore"}, headers=admin
        ).status_code
        == 201
    )
    groups = {g["name"]: g for g in client.get("/api/v1/groups", headers=op).json()}
    assert groups["g2"]["policy"] == "ignore"
    assert groups["rack1"]["nodes"] == 13


def test_events_page_back_and_export(org: Org) -> None:
    client = org.client()
    h = _auth(org, "viewer")
    first = client.get("/api/v1/events?limit=5", headers=h).json()
    assert len(first["events"]) == 5
    ids = [e["id"] for e in first["events"]]
    assert ids == sorted(ids, reverse=True)
    second = client.get(f"/api/v1/events?limit=5&before={first['next_before']}", headers=h).json()
    assert max(e["id"] for e in second["events"]) < min(ids)
    only = client.get("/api/v1/events?node=n2", headers=h).json()["events"]
    assert {e["node"] for e in only} == {"n2"}
    exported = client.get("/api/v1/events?format=csv&kind=node.add", headers=h)
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert len(rows) == 12
    assert {r["kind"] for r in rows} == {"node.add"}
    assert json.loads(rows[0]["detail"])["group"] == "rack1"


def test_heal_controls(org: Org) -> None:
    client = org.client()
    admin = _auth(org, "admin")
    assert client.post("/api/v1/heal/pause", json={"reason": "window"}, headers=admin).json()[
        "paused"
    ]
    status = client.get("/api/v1/heal", headers=_auth(org, "viewer")).json()
    assert status["paused"]["reason"] == "window"
    assert client.post("/api/v1/heal/resume", headers=admin).json() == {
        "paused": False,
        "changed": True,
    }
    reset = client.post("/api/v1/heal/nodes/n1/reset", json={}, headers=admin)
    assert reset.status_code == 409
    assert "no heal incident" in reset.json()["error"]["message"]


def test_fleet_status_overview_netblock_openapi_metrics(org: Org) -> None:
    client = org.client()
    h = _auth(org, "viewer")
    status = client.get("/api/v1/fleet/status", headers=h).json()
    assert status["summary"]["unknown"] == 12
    overview = client.get("/api/v1/fleet/overview", headers=h).json()
    assert overview["nodes"] == 12
    assert overview["policy"] == {"use": 12}
    ruleset = client.get("/api/v1/netblock/render?format=nftables", headers=h)
    assert ruleset.status_code == 200
    assert "127.18.9.1" in ruleset.text
    doc = client.get("/api/v1/openapi.json", headers=h).json()
    assert "/api/v1/nodes/{name}/amt/power" in doc["paths"]
    metrics = client.get("/metrics", headers=h)
    assert "mewarden_serve_requests_total" in metrics.text


def test_power_cycle_reaches_the_device_and_the_audit_trail(org: Org, emulator: Emulator) -> None:
    names = attach_emulator(org, emulator)
    client = org.client()
    before = len(emulator.call(lambda: emulator.fleet.action_log))
    answer = client.post(
        f"/api/v1/nodes/{names[0]}/amt/power",
        json={"action": "cycle"},
        headers=_auth(org, "operator"),
    )
    assert answer.status_code == 200, answer.text
    log = emulator.call(lambda: emulator.fleet.action_log)[before:]
    assert any(r.address == emulator.device(0).address for r in log)
    event = org.store.events(node=names[0])[-1]
    assert event.kind == "amt.action"
    assert event.detail == {"action": "power cycle", "ok": True}
    assert event.actor.startswith("token:")


def test_bulk_power_reports_each_node(org: Org, emulator: Emulator) -> None:
    names = attach_emulator(org, emulator)
    client = org.client()
    body = {"nodes": [*names, "n5", "ghost"], "action": "on"}
    result = client.post("/api/v1/amt/power", json=body, headers=_auth(org, "operator")).json()
    by_node = {r["node"]: r for r in result["results"]}
    assert result["summary"] == {"total": 4, "ok": 2, "failed": 2}
    assert by_node["ghost"]["error"]["code"] == 10
    assert by_node["n5"]["error"]["code"] in (4, 14)  # nothing listens at 127.18.9.6
    vaultless = org.client(vault=False)
    one = vaultless.post(
        f"/api/v1/nodes/{names[0]}/amt/power", json={"action": "on"}, headers=_auth(org, "operator")
    )
    assert one.status_code == 503
    assert one.json()["error"]["code"] == 11


def test_live_event_stream(org: Org) -> None:
    with running_server(org.app()) as base, httpx.Client(base_url=base, timeout=10) as http:
        headers = _auth(org, "viewer")
        with http.stream("GET", "/api/v1/events/stream", headers=headers) as stream:
            lines = stream.iter_lines()
            assert next(lines).startswith(": mewarden")
            time.sleep(0.3)  # the hub's first poll marks where the stream starts
            org.store.update_node("n4", lambda _n: {"maintenance": True}, "node.maintenance")
            for line in lines:
                if line.startswith("data: "):
                    event = json.loads(line[6:])
                    break
    assert event["kind"] == "node.maintenance"
    assert event["node"] == "n4"
