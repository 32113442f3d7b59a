"""``mewarden netblock`` and ``mewarden scan`` as users run them: output, errors, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support import require_tool
from tests.support import run_mewarden as run

HERE = Path(__file__).resolve().parent
FLEET = HERE / "data" / "fleet.json"
GOLDEN = HERE / "golden"


def test_render_to_stdout_and_file_match_golden(tmp_path: Path) -> None:
    assert (
        run("netblock", "render", "--inventory", str(FLEET)).stdout
        == (GOLDEN / "fleet.nft").read_text()
    )
    out = tmp_path / "rules.iptables"
    result = run(
        "netblock", "render", "--inventory", str(FLEET), "--format", "iptables", "-o", str(out)
    )
    assert result.returncode == 0, result.stderr
    assert out.read_bytes() == (GOLDEN / "fleet.iptables").read_bytes()


@pytest.mark.system
@pytest.mark.parametrize("fmt", ["nftables", "iptables", "ip6tables"])
def test_render_check(tmp_path: Path, fmt: str) -> None:
    require_tool("nft" if fmt == "nftables" else f"{fmt}-restore")
    out = tmp_path / "rules"
    result = run(
        "netblock", "render", "--inventory", str(FLEET), "--format", fmt, "--check", "-o", str(out)
    )
    assert result.returncode == 0, result.stderr
    assert "ruleset valid" in result.stderr


def _write(tmp_path: Path, doc: object) -> str:
    path = tmp_path / "inv.json"
    path.write_text(json.dumps(doc))
    return str(path)


@pytest.mark.parametrize(
    ("doc", "extra", "message"),
    [
        ({"nodes": []}, ["--format", "pf"], "unknown ruleset format 'pf'"),
        ({"nodes": [{"name": "a", "policy": "use"}]}, [], "node a (policy use) has no address"),
        (
            {
                "nodes": [
                    {"name": "a", "policy": "use", "addresses": ["10.0.0.0/24"]},
                    {"name": "b", "policy": "use", "addresses": ["10.0.0.5"]},
                ]
            },
            [],
            "overlaps 10.0.0.0/24 of node a",
        ),
        ({"nodes": []}, ["--table", "x;y"], "table name 'x;y'"),
        ({"nodes": []}, ["--format", "json", "--check"], "--check validates nftables"),
    ],
)
def test_render_bad_input_is_one_line_exit_2(
    tmp_path: Path, doc: object, extra: list[str], message: str
) -> None:
    result = run("netblock", "render", "--inventory", _write(tmp_path, doc), *extra)
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stdout == ""


def test_render_refuses_to_leave_a_file_on_bad_input(tmp_path: Path) -> None:
    out = tmp_path / "rules.nft"
    path = _write(tmp_path, {"nodes": [{"name": "a", "policy": "neutralize"}]})
    result = run("netblock", "render", "--inventory", path, "-o", str(out))
    assert result.returncode == 2
    assert not out.exists()


def test_missing_inventory_file(tmp_path: Path) -> None:
    result = run("netblock", "render", "--inventory", str(tmp_path / "nope.json"))
    assert result.returncode == 2
    assert "does not exist" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["scan", "not-an-ip"], "scan target 'not-an-ip' is not an address or CIDR"),
        (["scan"], "nothing to scan"),
    ],
)
def test_scan_bad_input(args: list[str], message: str) -> None:
    result = run(*args)
    assert result.returncode == 2
    assert message in result.stderr


def test_scan_json_of_a_silent_loopback_address() -> None:
    result = run("scan", "127.45.67.90", "--timeout", "0.3", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["targets"] == 1
    assert report["findings"] == 0
    (entry,) = report["results"]
    assert entry["policy"] == "ignore"
    assert [p["port"] for p in entry["ports"]] == [16992, 16993, 16994, 16995, 5900]


@pytest.fixture
def org_db(tmp_path: Path) -> str:
    """An org database with a mixed fleet on loopback addresses (scans stay on this host)."""
    db = str(tmp_path / "org.db")
    key = str(tmp_path / "org.key")
    assert run("org", "init", "--db", db, "--key-file", key).returncode == 0
    for name, policy, amt, agent, mac in (
        ("s-use", "use", "127.61.0.2", "127.61.0.2:9100", "02:60:00:00:00:02"),
        ("s-neu", "neutralize", "127.61.0.3", "127.61.1.3", "02:60:00:00:00:03"),
        ("s-ign", "ignore", None, None, None),
    ):
        args = ["node", "add", name, "--db", db, "--policy", policy]
        args += ["--amt-host", amt] if amt else []
        args += ["--agent", agent] if agent else []
        args += ["--mac", mac] if mac else []
        result = run(*args)
        assert result.returncode == 0, result.stderr
    return db


def test_render_from_org_state(org_db: str) -> None:
    result = run(
        "netblock", "render", "--db", org_db, "--controller", "10.60.9.2", "--format", "json"
    )
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    groups = {p: {g["name"]: g for g in plan["groups"][p]} for p in ("use", "neutralize")}
    assert groups["use"]["s-use"]["addresses"] == ["127.61.0.2/32"]  # AMT and agent share it
    assert groups["neutralize"]["s-neu"]["addresses"] == ["127.61.0.3/32", "127.61.1.3/32"]
    assert groups["neutralize"]["s-neu"]["macs"] == ["02:60:00:00:00:03"]
    assert plan["ignored"] == ["s-ign"]
    assert plan["controllers"] == ["10.60.9.2/32"]
    assert plan["ports"]["mps_tcp"] == [4433]


def test_org_state_node_with_a_host_name_is_a_clear_error(org_db: str) -> None:
    added = run(
        "node", "add", "s-name", "--db", org_db, "--policy", "use", "--amt-host", "amt.example"
    )
    assert added.returncode == 0, added.stderr
    result = run("netblock", "render", "--db", org_db)
    assert result.returncode == 2
    assert "node s-name: AMT host 'amt.example' is not an IP address" in result.stderr


def test_inventory_file_and_state_options_do_not_mix(tmp_path: Path) -> None:
    result = run("netblock", "render", "--inventory", str(FLEET), "--controller", "10.0.0.1")
    assert result.returncode == 2
    assert "--controller and --mps-port go with org state" in result.stderr


def test_scan_fleet_from_org_state(org_db: str) -> None:
    result = run("scan", "--fleet", "--db", org_db, "--timeout", "0.2", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    by_address = {r["address"]: r for r in report["results"]}
    assert set(by_address) == {"127.61.0.2", "127.61.0.3", "127.61.1.3"}
    assert by_address["127.61.0.3"]["node"] == "s-neu"
    assert by_address["127.61.0.3"]["policy"] == "neutralize"
