"""The org-state commands as a user runs them: one-line errors, exit codes, nothing half-written."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from mewarden.crypto.keys import KeySource, load_key
from mewarden.crypto.vault import seal, unseal
from mewarden.errors import (
    AmtUnreachableError,
    BadInputError,
    DuplicateError,
    StateError,
    VaultError,
)
from mewarden.secret import Secret
from mewarden.state.db import head_revision, open_engine
from mewarden.state.models import NodeSpec
from mewarden.state.store import Store
from tests.state.clihelp import Cli


@pytest.fixture
def cli(tmp_path: Path, db_url: str) -> Cli:
    tool = Cli(tmp_path, db_url)
    tool("org", "init")
    return tool


def _store(db_url: str) -> Store:
    return Store(open_engine(db_url))


def test_init_creates_0600_key_and_refuses_twice(cli: Cli, db_url: str) -> None:
    assert cli.key_file.stat().st_mode & 0o777 == 0o600
    before = cli.key_file.read_bytes()
    done = cli("org", "init", code=DuplicateError.exit_code)
    assert "already initialized" in done.stderr
    assert cli.key_file.read_bytes() == before
    migrated = cli.json("org", "migrate")
    assert migrated["from"] == migrated["to"] == head_revision()


def test_default_sqlite_location_is_under_xdg_state_home(tmp_path: Path) -> None:
    tool = Cli(tmp_path)
    tool("org", "init")
    db = tmp_path / "mewarden" / "org.db"
    assert db.is_file()
    assert db.stat().st_mode & 0o777 == 0o600


def test_missing_database_is_one_line(tmp_path: Path) -> None:
    Cli(tmp_path)("node", "list", code=StateError.exit_code)


def test_node_and_group_commands(cli: Cli) -> None:
    cli("group", "add", "lab", "--policy", "neutralize")
    cli(
        "node",
        "add",
        "n1",
        "--group",
        "lab",
        "--amt-host",
        "10.0.0.1",
        "--mac",
        "AA:BB:CC:DD:EE:FF",
    )
    cli("node", "add", "n2")
    nodes = {n["name"]: n for n in cli.json("node", "list")}
    assert nodes["n1"]["effective_policy"] == "neutralize"
    assert nodes["n1"]["policy_source"] == "group"
    assert nodes["n2"]["effective_policy"] == "ignore"
    cli("node", "set-policy", "n1", "use")
    shown = cli.json("node", "show", "n1")
    assert shown["node"]["effective_policy"] == "use"
    cli("node", "set-policy", "n1", "inherit")
    assert cli.json("node", "show", "n1")["node"]["policy_source"] == "group"
    groups = cli.json("group", "list")
    assert groups == [{"name": "lab", "policy": "neutralize", "nodes": 1}]
    cli("node", "remove", "n2")
    cli("node", "show", "n2", code=StateError.exit_code)
    events = cli.json("events", "--node", "n1")
    kinds = [e["kind"] for e in events]
    assert kinds == ["node.add", "node.set-policy", "node.set-policy"]
    cli("events", "--since", "yesterday", code=BadInputError.exit_code)


def test_bad_input_is_refused_without_writing(cli: Cli) -> None:
    cli("node", "add", "n1")
    done = cli("node", "add", "n1", "--amt-host", "x", code=DuplicateError.exit_code)
    assert "already exists" in done.stderr
    done = cli("node", "add", "n3", "--policy", "usee", code=BadInputError.exit_code)
    assert "unknown policy" in done.stderr
    cli("node", "set-policy", "n1", "maybe", code=BadInputError.exit_code)
    cli("node", "add", "n4", "--group", "nope", code=StateError.exit_code)
    names = [n["name"] for n in cli.json("node", "list")]
    assert names == ["n1"]


def test_import_is_all_or_nothing(cli: Cli, tmp_path: Path) -> None:
    cli("node", "add", "b")
    csv = tmp_path / "nodes.csv"
    csv.write_text("name,policy,macs\na,neutralize,aa:bb:cc:dd:ee:01\nb,ignore,\n")
    done = cli("node", "import", str(csv), code=DuplicateError.exit_code)
    assert "nothing imported" in done.stderr
    assert [n["name"] for n in cli.json("node", "list")] == ["b"]
    csv.write_text("name,policy\na,neutralize\nc,sometimes\n")
    cli("node", "import", str(csv), code=BadInputError.exit_code)
    js = tmp_path / "nodes.json"
    js.write_text(json.dumps([{"name": "a", "policy": "neutralize"}, {"name": "c"}]))
    assert cli.json("node", "import", str(js)) == {"imported": 2, "enrolled": 0, "failed": {}}
    status = cli.json("fleet", "status")
    assert status["summary"] == {"compliant": 0, "drift": 0, "unknown": 3, "observed": 0}


def test_neutralize_enroll_with_report_files(cli: Cli, tmp_path: Path) -> None:
    report = tmp_path / "neutralize.json"
    report.write_text(json.dumps({"verification": {"strap_set": True}}))
    probe = tmp_path / "probe.json"
    probe.write_text(json.dumps({"schema_version": 1, "verdict": "hap-disabled"}))
    cli(
        "node",
        "enroll",
        "n1",
        "--policy",
        "neutralize",
        "--neutralize-report",
        str(report),
        "--probe",
        str(probe),
    )
    status = cli.json("fleet", "status")
    # a report and a probe are not proof: the scan and the netblock state are missing
    assert status["nodes"][0]["status"] == "unknown"
    assert "no network scan of the node" in status["nodes"][0]["reasons"]
    shown = cli.json("node", "show", "n1")
    assert shown["status"] == "unknown"
    assert [d["kind"] for d in shown["documents"]] == ["firmware-neutralize", "host-probe"]
    cli(
        "node",
        "enroll",
        "n2",
        "--policy",
        "neutralize",
        "--neutralize-report",
        str(tmp_path / "absent.json"),
        code=BadInputError.exit_code,
    )
    assert [n["name"] for n in cli.json("node", "list")] == ["n1"]


def test_unreachable_amt_leaves_no_node(cli: Cli) -> None:
    done = cli(
        "node",
        "enroll",
        "n1",
        "--policy",
        "use",
        "--amt-host",
        "127.0.0.1",
        "--amt-port",
        "9",
        code=AmtUnreachableError.exit_code,
        MEWARDEN_AMT_PASSWORD="P@ssw0rd1",
    )
    assert "P@ssw0rd1" not in done.stderr
    assert cli.json("node", "list") == []
    assert [e["kind"] for e in cli.json("events", "--node", "n1")][-2:] == [
        "node.enroll-failed",
        "node.remove",
    ]


def test_corrupt_and_wrong_keys(cli: Cli, tmp_path: Path) -> None:
    good = cli.key_file.read_bytes()
    cli.key_file.write_text("definitely not a key\n")
    done = cli("node", "enroll", "n1", "--policy", "ignore", code=VaultError.exit_code)
    assert "not valid base64" in done.stderr
    other = Cli(tmp_path / "other")
    other("org", "init", "--db", f"sqlite:///{tmp_path / 'other.db'}")
    cli.key_file.write_bytes(other.key_file.read_bytes())
    done = cli("org", "rotate-key", code=VaultError.exit_code)
    assert "wrong org key" in done.stderr
    cli.key_file.write_bytes(good)
    cli("node", "enroll", "n1", "--policy", "ignore")


def test_rotate_key_keeps_credentials(cli: Cli, db_url: str) -> None:
    key = load_key(KeySource(file=cli.key_file))
    store = _store(db_url)
    secrets = {}
    for i in range(5):
        name = f"n{i}"
        store.add_node(_spec(name))
        secrets[name] = f"Pw-{i}-{os.urandom(6).hex()}!"
        store.put_credential(
            name,
            "amt-admin",
            "admin",
            seal(key, Secret(secrets[name]), node=name, purpose="amt-admin"),
        )
    result = cli.json("org", "rotate-key")
    assert result["credentials"] == 5
    new = load_key(KeySource(file=cli.key_file))
    assert new.key_id != key.key_id
    assert cli.key_file.stat().st_mode & 0o777 == 0o600
    for name, password in secrets.items():
        _, sealed = store.credential(name, "amt-admin")
        assert unseal(new, sealed, node=name, purpose="amt-admin").reveal() == password
    store.engine.dispose()


def test_key_from_env_and_command(tmp_path: Path, db_url: str) -> None:
    from mewarden.crypto.keys import encode_key
    from mewarden.crypto.vault import OrgKey

    key = OrgKey.generate()
    text = encode_key(key).strip()
    tool = Cli(tmp_path, db_url)
    done = tool.json("org", "init")
    assert done["key_id"] != key.key_id
    tool(
        "node",
        "enroll",
        "n1",
        "--policy",
        "ignore",
        code=VaultError.exit_code,
        MEWARDEN_ORG_KEY=text,
    )
    script = tmp_path / "kms.py"
    script.write_text(f"print({keys_text(tool)!r})\n")
    tool(
        "node", "enroll", "n1", "--policy", "ignore", "--key-command", f"{sys.executable} {script}"
    )


def keys_text(tool: Cli) -> str:
    return tool.key_file.read_text().strip()


def _spec(name: str) -> NodeSpec:
    return NodeSpec(name=name)


def test_interrupted_rotation_is_recovered(cli: Cli, db_url: str) -> None:
    """rotate-key committed but died before the rename: the staged key is adopted."""
    from mewarden.crypto.keys import write_key_file
    from mewarden.crypto.vault import OrgKey

    old = load_key(KeySource(file=cli.key_file))
    new = OrgKey.generate()
    staged = cli.key_file.with_name("org.key.new")
    write_key_file(staged, new)
    store = _store(db_url)
    store.rotate_key(old, new)
    store.engine.dispose()
    cli("node", "enroll", "n1", "--policy", "ignore")
    assert not staged.exists()
    assert load_key(KeySource(file=cli.key_file)).key_id == new.key_id


def test_enroll_of_existing_node_keeps_it_on_failure(cli: Cli) -> None:
    cli("node", "add", "n1", "--amt-host", "10.9.9.9")
    cli(
        "node",
        "enroll",
        "n1",
        "--policy",
        "use",
        "--amt-host",
        "127.0.0.1",
        "--amt-port",
        "9",
        code=AmtUnreachableError.exit_code,
        MEWARDEN_AMT_PASSWORD="P@ssw0rd1",
    )
    node = cli.json("node", "show", "n1")["node"]
    assert (node["amt_host"], node["amt_port"], node["lifecycle"]) == ("127.0.0.1", 9, "registered")
    kinds = [e["kind"] for e in cli.json("events", "--node", "n1")]
    assert "node.set-amt" in kinds
    assert kinds[-1] == "node.enroll-failed"


def test_node_show_text_has_no_python_values_or_internals(cli: Cli) -> None:
    cli("node", "add", "n9", "--policy", "use")
    shown = cli.json("node", "show", "n9")["node"]
    assert {"version", "lease_epoch", "lease_owner"} <= set(shown)  # --json keeps everything
    text = cli("node", "show", "n9").stdout
    assert "effective policy" in text
    for leak in ("None", "True", "False", "lease epoch", "lease owner"):
        assert leak not in text
    assert "documents: none" in text
