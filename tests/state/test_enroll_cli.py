"""Refusals of `node enroll`, `node add`, `org rotate-key`: one line, exit code, nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mewarden.crypto.keys import encode_key, write_key_file
from mewarden.crypto.vault import OrgKey, seal, unseal
from mewarden.errors import AmtUnreachableError, BadInputError
from mewarden.secret import Secret
from mewarden.state.db import open_engine
from mewarden.state.models import NodeSpec
from mewarden.state.store import Store
from tests.state.clihelp import Cli, host_probe

PASSWORD = "P@ssw0rd1"


@pytest.fixture
def cli(tmp_path: Path, db_url: str) -> Cli:
    tool = Cli(tmp_path, db_url)
    tool("org", "init")
    return tool


def _bad_enrollments(tmp: Path) -> dict[str, tuple[list[str], dict[str, str], str]]:
    bad_json = tmp / "bad.json"
    bad_json.write_text("{not json")
    not_probe = tmp / "not-probe.json"
    not_probe.write_text(json.dumps({"schema_version": 1, "verdict": "sleeping"}))
    neutralized = tmp / "neutralize.json"
    neutralized.write_text(json.dumps({"verification": {"strap_set": True}}))
    use = ["--policy", "use", "--amt-host", "127.0.0.1", "--amt-port", "9"]
    with_password = {"MEWARDEN_AMT_PASSWORD": PASSWORD}
    return {
        "neutralize-without-report": (["--policy", "neutralize"], {}, "needs the"),
        "bad-neutralize-json": (
            ["--policy", "neutralize", "--neutralize-report", str(bad_json)],
            {},
            "not valid JSON",
        ),
        "bad-probe-json": (
            [
                "--policy",
                "neutralize",
                "--probe",
                str(bad_json),
                "--neutralize-report",
                str(neutralized),
            ],
            {},
            "not valid JSON",
        ),
        "probe-with-unknown-verdict": (
            ["--policy", "ignore", "--probe", str(not_probe)],
            {},
            "verdict must be one of",
        ),
        "use-without-password-or-tty": (use, {}, "no password"),
        "use-with-missing-password-file": (
            [*use, "--password-file", str(tmp / "nonexistent")],
            {},
            "does not exist",
        ),
        "use-with-bad-probe": ([*use, "--probe", str(bad_json)], with_password, "not valid JSON"),
        "use-with-over-long-host": (
            ["--policy", "use", "--amt-host", "h" * 300],
            with_password,
            "at most 255",
        ),
    }


CASES = [
    "neutralize-without-report",
    "bad-neutralize-json",
    "bad-probe-json",
    "probe-with-unknown-verdict",
    "use-without-password-or-tty",
    "use-with-missing-password-file",
    "use-with-bad-probe",
    "use-with-over-long-host",
]


@pytest.mark.parametrize("case", CASES)
def test_refused_enroll_of_a_new_node_writes_nothing(
    cli: Cli, tmp_path: Path, db_url: str, case: str
) -> None:
    args, env, message = _bad_enrollments(tmp_path)[case]
    store = Store(open_engine(db_url))
    events = len(store.events())
    done = cli("node", "enroll", "n1", *args, code=BadInputError.exit_code, **env)
    assert message in done.stderr
    assert store.nodes() == []
    assert len(store.events()) == events
    store.engine.dispose()


@pytest.mark.parametrize("case", ["bad-probe-json", "use-without-password-or-tty"])
def test_refused_enroll_of_an_existing_node_changes_nothing(
    cli: Cli, tmp_path: Path, case: str
) -> None:
    cli("node", "add", "n1", "--amt-host", "10.9.9.9")
    before = cli.json("node", "show", "n1")
    args, env, _message = _bad_enrollments(tmp_path)[case]
    cli("node", "enroll", "n1", *args, code=BadInputError.exit_code, **env)
    assert cli.json("node", "show", "n1") == before
    assert [e["kind"] for e in cli.json("events", "--node", "n1")] == ["node.add"]


def test_failed_use_enroll_of_an_existing_node_keeps_its_policy(cli: Cli) -> None:
    cli("node", "add", "n1", "--policy", "ignore")
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
        MEWARDEN_AMT_PASSWORD=PASSWORD,
    )
    node = cli.json("node", "show", "n1")["node"]
    assert (node["policy"], node["lifecycle"]) == ("ignore", "registered")
    assert "node.set-policy" not in [e["kind"] for e in cli.json("events", "--node", "n1")]


def test_over_long_and_malformed_fields_are_one_line_bad_input(cli: Cli, tmp_path: Path) -> None:
    cli("node", "add", "n" * 129, code=BadInputError.exit_code)
    cli("node", "add", "n1", "--amt-user", "u" * 65, code=BadInputError.exit_code)
    cli("node", "add", "n1", "--mac", "not-a-mac", code=BadInputError.exit_code)
    cli("group", "add", "g" * 129, code=BadInputError.exit_code)
    nul = tmp_path / "nul.json"
    nul.write_text(json.dumps([{"name": "ok"}, {"name": "bad", "amt_host": "10.0.0.1\u0000x"}]))
    done = cli("node", "import", str(nul), code=BadInputError.exit_code)
    assert "item 2" in done.stderr
    assert cli.json("node", "list") == []
    assert cli.json("group", "list") == []


def test_rotate_key_reads_the_new_key_file_not_the_environment(tmp_path: Path, db_url: str) -> None:
    old = OrgKey.generate()
    env = {"MEWARDEN_ORG_KEY": encode_key(old).strip()}
    tool = Cli(tmp_path, db_url)
    assert tool.json("org", "init", **env)["key_id"] == old.key_id
    store = Store(open_engine(db_url))
    store.add_node(NodeSpec(name="n1"))
    sealed = seal(old, Secret("Vaulted-1!"), node="n1", purpose="amt-admin")
    store.put_credential("n1", "amt-admin", "admin", sealed)
    same = tmp_path / "same.key"
    write_key_file(same, old)
    done = tool.run(("org", "rotate-key", "--new-key-file", str(same)), code=2, env=env)
    assert "current org key" in done.stderr
    new = OrgKey.generate()
    fresh = tmp_path / "new.key"
    write_key_file(fresh, new)
    result = tool.json("org", "rotate-key", "--new-key-file", str(fresh), **env)
    assert (result["from"], result["to"], result["credentials"]) == (old.key_id, new.key_id, 1)
    _, rewrapped = store.credential("n1", "amt-admin")
    assert unseal(new, rewrapped, node="n1", purpose="amt-admin").reveal() == "Vaulted-1!"
    tool("node", "list", MEWARDEN_ORG_KEY=encode_key(new).strip())
    store.engine.dispose()


def test_events_since_with_an_offset(cli: Cli) -> None:
    cli("node", "add", "n1")
    [added] = cli.json("events", "--node", "n1")
    assert added["at"].endswith("+00:00")
    # the same instant written with a +05:00 offset: the event is at (not before) it
    from datetime import datetime, timedelta, timezone

    at = datetime.fromisoformat(added["at"])
    east = (at - timedelta(seconds=1)).astimezone(timezone(timedelta(hours=5))).isoformat()
    assert [e["kind"] for e in cli.json("events", "--node", "n1", "--since", east)] == ["node.add"]
    later = (at + timedelta(seconds=1)).astimezone(timezone(timedelta(hours=-7))).isoformat()
    assert cli.json("events", "--node", "n1", "--since", later) == []


def test_node_set_group(cli: Cli) -> None:
    cli("group", "add", "lab", "--policy", "neutralize")
    cli("node", "add", "n1")
    moved = cli.json("node", "set-group", "n1", "lab")
    assert moved == {
        "node": "n1",
        "group": "lab",
        "effective_policy": "neutralize",
        "policy_source": "group",
    }
    cli("node", "set-group", "n1", "nope", code=10)
    assert cli.json("node", "set-group", "n1", "none")["group"] is None
    assert [e["kind"] for e in cli.json("events", "--node", "n1")][-2:] == [
        "node.set-group",
        "node.set-group",
    ]


@pytest.mark.parametrize("tree", ["me7-cleaned-hap", "csme16-z790-running"])
def test_real_host_probe_output_is_accepted(cli: Cli, tmp_path: Path, tree: str) -> None:
    probe = tmp_path / "probe.json"
    probe.write_text(host_probe(tree))
    done = cli.json("node", "enroll", "n1", "--policy", "ignore", "--probe", str(probe))
    assert done["documents"] == ["host-probe"]


def test_rotate_key_to_a_given_file_updates_the_org_key_file(cli: Cli, tmp_path: Path) -> None:
    new = OrgKey.generate()
    given = tmp_path / "given.key"
    write_key_file(given, new)
    assert cli.json("org", "rotate-key", "--new-key-file", str(given))["to"] == new.key_id
    assert cli.key_file.read_text() == given.read_text()
    assert cli.key_file.stat().st_mode & 0o777 == 0o600
    cli("node", "list")  # the key file matches the database again
