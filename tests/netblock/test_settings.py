"""Controllers and MPS ports in org state: store API (SQLite and PostgreSQL) and the CLI."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from mewarden.errors import BadInputError
from mewarden.state import netblock_settings as ns
from mewarden.state.store import Store
from tests.state.conftest import db_url, org_key, pg_cluster, store
from tests.support import run_mewarden as run

__all__ = ["db_url", "org_key", "pg_cluster", "store"]  # fixtures shared with tests/state

HERE = Path(__file__).resolve().parent


def test_controllers_round_trip_with_audit_events(store: Store) -> None:
    assert ns.load(store) == ns.NetblockSettings()
    assert ns.add_controllers(store, ["10.0.9.2", "2001:db8::/64", "10.0.8.0/24"]) == (
        "10.0.8.0/24",
        "10.0.9.2/32",
        "2001:db8::/64",
    )
    assert ns.add_controllers(store, ["10.0.9.2"]) == (
        "10.0.8.0/24",
        "10.0.9.2/32",
        "2001:db8::/64",
    )
    assert ns.remove_controllers(store, ["10.0.8.0/24"]) == ("10.0.9.2/32", "2001:db8::/64")
    assert ns.set_mps_ports(store, [8443, 4433, 8443]) == (4433, 8443)
    assert ns.load(store) == ns.NetblockSettings(
        controllers=("10.0.9.2/32", "2001:db8::/64"), mps_ports=(4433, 8443)
    )
    kinds = [e.kind for e in store.events() if e.kind.startswith("netblock.")]
    assert kinds == [
        "netblock.controllers.added",
        "netblock.controllers.added",
        "netblock.controllers.removed",
        "netblock.mps_ports.set",
    ]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda s: ns.add_controllers(s, ["ctl.example"]), "controller 'ctl.example'"),
        (lambda s: ns.add_controllers(s, ["10.0.0.1/24"]), "has host bits set"),
        (lambda s: ns.add_controllers(s, ["10.0.0.0/24", "10.0.0.7"]), "overlap"),
        (lambda s: ns.remove_controllers(s, ["10.0.5.5"]), "not a stored controller: 10.0.5.5"),
        (lambda s: ns.set_mps_ports(s, [0]), "MPS port '0' is not a number 1-65535"),
        (lambda s: ns.set_mps_ports(s, [70000]), "MPS port '70000'"),
        (lambda s: ns.set_mps_ports(s, []), "at least one MPS port"),
    ],
)
def test_bad_values_are_one_line_errors_and_change_nothing(
    store: Store, call: object, message: str
) -> None:
    ns.add_controllers(store, ["10.0.9.2"])
    before = (ns.load(store), len(store.events()))
    with pytest.raises(BadInputError, match=message):
        call(store)  # type: ignore[operator]
    assert (ns.load(store), len(store.events())) == before


def test_concurrent_adds_lose_nothing(store: Store) -> None:
    errors: list[BaseException] = []

    def add(i: int) -> None:
        try:
            ns.add_controllers(store, [f"10.7.{i}.0/24"])
        except BaseException as exc:  # reported below, with the thread's value
            errors.append(exc)

    threads = [threading.Thread(target=add, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert ns.load(store).controllers == tuple(f"10.7.{i}.0/24" for i in range(6))


def test_parse_ports_accepts_commas_and_words() -> None:
    assert ns.parse_ports(["4433,8443", "443"]) == (443, 4433, 8443)
    with pytest.raises(BadInputError, match="'x'"):
        ns.parse_ports(["4433,x"])


# --- CLI ---------------------------------------------------------------------------------------


@pytest.fixture
def org_db(tmp_path: Path) -> str:
    db = str(tmp_path / "org.db")
    assert run("org", "init", "--db", db, "--key-file", str(tmp_path / "k")).returncode == 0
    for name, policy, amt in (("u1", "use", "127.62.0.2"), ("n1", "neutralize", "127.62.0.3")):
        added = run("node", "add", name, "--db", db, "--policy", policy, "--amt-host", amt)
        assert added.returncode == 0, added.stderr
    return db


def _plan(*args: str) -> dict[str, object]:
    result = run("netblock", "render", "--format", "json", *args)
    assert result.returncode == 0, result.stderr
    plan: dict[str, object] = json.loads(result.stdout)
    return plan


def test_cli_stores_controllers_and_ports_and_render_uses_them(org_db: str) -> None:
    added = run(
        "netblock", "controllers", "add", "10.60.9.2", "10.60.8.0/24", "--db", org_db, "--json"
    )
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout) == {"controllers": ["10.60.8.0/24", "10.60.9.2/32"]}
    assert run("netblock", "mps-ports", "set", "4433,8443", "--db", org_db).returncode == 0
    plan = _plan("--db", org_db)
    assert plan["controllers"] == ["10.60.8.0/24", "10.60.9.2/32"]
    assert plan["ports"] == {**plan["ports"], "mps_tcp": [4433, 8443]}  # type: ignore[dict-item]
    # flags: --controller adds to the stored ones, --mps-port replaces the stored ports
    plan = _plan("--db", org_db, "--controller", "10.60.7.2", "--mps-port", "9443")
    assert plan["controllers"] == ["10.60.7.2/32", "10.60.8.0/24", "10.60.9.2/32"]
    assert plan["ports"]["mps_tcp"] == [9443]  # type: ignore[index]
    listed = run("netblock", "controllers", "list", "--db", org_db, "--json")
    assert json.loads(listed.stdout)["controllers"] == ["10.60.8.0/24", "10.60.9.2/32"]
    removed = run("netblock", "controllers", "remove", "10.60.8.0/24", "--db", org_db, "--json")
    assert json.loads(removed.stdout) == {"controllers": ["10.60.9.2/32"]}
    shown = run("netblock", "mps-ports", "show", "--db", org_db, "--json")
    assert json.loads(shown.stdout) == {"mps_ports": [4433, 8443], "stored": True}


def test_use_nodes_without_controllers_are_refused_unless_asked(
    org_db: str, tmp_path: Path
) -> None:
    for command in ("render", "apply", "diff"):
        refused = run("netblock", command, "--db", org_db)
        assert refused.returncode == 2, (command, refused.stderr)
        assert "1 use node(s) (u1) but no controllers" in refused.stderr
        assert "--no-controllers" in refused.stderr
    assert _plan("--db", org_db, "--no-controllers")["controllers"] == []
    inventory = tmp_path / "inv.json"
    inventory.write_text(
        json.dumps({"nodes": [{"name": "u", "policy": "use", "addresses": ["10.0.0.2"]}]})
    )
    refused = run("netblock", "render", "--inventory", str(inventory))
    assert refused.returncode == 2
    assert "but no controllers" in refused.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("controllers", "add", "10.0.0.1/8"), "has host bits set"),
        (("controllers", "add", "ctl.example"), "controller 'ctl.example'"),
        (("controllers", "remove", "10.9.9.9"), "not a stored controller"),
        (("mps-ports", "set", "4433,0"), "MPS port '0'"),
        (("mps-ports", "set", "http"), "MPS port 'http'"),
    ],
)
def test_cli_bad_values_are_one_line_errors(
    org_db: str, args: tuple[str, ...], message: str
) -> None:
    result = run("netblock", *args, "--db", org_db)
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
