"""``mewarden node console`` and ``node captures`` for an enrolled node (org state, vault)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from mewarden.state.db import open_engine
from mewarden.state.models import DocumentKind
from mewarden.state.store import Store
from tests.redirect.support import PASSWORD, EmulatorThread
from tests.state.clihelp import Cli


def test_node_console_uses_the_vault_and_is_audited(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'org.db'}"
    cli = Cli(tmp_path, db)
    cli("org", "init")
    with EmulatorThread() as emu:
        cli(
            "node", "enroll", "n1", "--policy", "use", "--amt-host", emu.host,
            MEWARDEN_AMT_PASSWORD=PASSWORD,
        )  # fmt: skip
        shown = cli.json("node", "console", "n1", "--capture", "0.5")
        assert shown["text"].endswith(f"{emu.device.identity.hostname} login: ")
        assert shown["auth"] == "digest_rfc2617"
        emu.call(lambda: emu.device.state.request_redirection_state(32768, 0.0))
        refused = cli("node", "console", "n1", "--capture", "0.5", code=7)
        assert "redirection enable --sol" in refused.stderr
    events = [e for e in cli.json("events", "--node", "n1") if e["kind"].startswith("console.")]
    assert [(e["kind"], e["detail"].get("kind")) for e in events] == [
        ("console.open", "sol"),
        ("console.close", "sol"),
        ("console.open", "sol"),
        ("console.close", "sol"),
    ]
    assert events[-1]["detail"]["error"] == "AmtUnsupportedError"
    assert all(e["actor"].startswith("cli:") for e in events)


def test_node_captures_shows_what_heal_kept(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'org.db'}"
    cli = Cli(tmp_path, db)
    cli("org", "init")
    cli("node", "add", "n1", "--amt-host", "127.151.0.9")
    store = Store(open_engine(db), actor="heal:test")
    text = {"node": "n1", "kind": "sol-tail", "text": "boot failed\nlogin: "}
    png = base64.b64encode(b"\x89PNG fake").decode()
    shot = {"node": "n1", "kind": "kvm-screenshot", "png_base64": png}
    for body in (text, shot):
        store.attach_document("n1", DocumentKind.CONSOLE_CAPTURE, "heal:test", json.dumps(body))
    rows = cli.json("node", "captures", "n1", "--png-dir", str(tmp_path / "png"))
    assert [r["kind"] for r in rows] == ["sol-tail", "kvm-screenshot"]
    assert rows[0]["text"] == "boot failed\nlogin: "
    assert Path(rows[1]["png"]).read_bytes() == b"\x89PNG fake"
    plain = cli("node", "captures", "n1").stdout
    assert "boot failed" in plain
