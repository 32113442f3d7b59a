"""Running the ``mewarden`` CLI as a user does, for the state suite."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

HOST_TREES = Path(__file__).resolve().parents[1] / "data" / "host" / "trees"


class Cli:
    """Runs ``python -m mewarden`` with a private state directory."""

    def __init__(self, home: Path, db: str | None = None) -> None:
        self.home = home
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("MEWARDEN_")}
        self.env["XDG_STATE_HOME"] = str(home)
        if db is not None:
            self.env["MEWARDEN_DB"] = db
        self.env["MEWARDEN_KEY_FILE"] = str(home / "org.key")

    def __call__(self, *args: str, code: int = 0, **env: str) -> subprocess.CompletedProcess[str]:
        return self.run(args, code=code, env=env)

    def run(
        self, args: tuple[str, ...], *, code: int = 0, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run ``mewarden *args``; expect exit ``code`` (one stderr line when not 0)."""
        done = subprocess.run(
            [sys.executable, "-m", "mewarden", *args],
            capture_output=True,
            text=True,
            env={**self.env, **(env or {})},
            stdin=subprocess.DEVNULL,  # no TTY: a missing password is an error, not a prompt
            timeout=120,
            check=False,
        )
        assert "Traceback" not in done.stderr
        assert done.returncode == code, (done.returncode, done.stdout, done.stderr)
        if code:
            assert done.stderr.count("\n") == 1, done.stderr
        return done

    def json(self, *args: str, **env: str) -> Any:
        return json.loads(self.run((*args, "--json"), env=env).stdout)

    @property
    def key_file(self) -> Path:
        return self.home / "org.key"


def host_probe(tree: str) -> str:
    """Real ``mewarden host probe --root <tree> --json`` output."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mewarden",
            "host",
            "probe",
            "--json",
            "--root",
            str(HOST_TREES / tree),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout
