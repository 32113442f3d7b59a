"""``scripts/install-system-packages.sh`` decides about npm correctly (hermetic: apt-get,
dpkg-query and id are stand-ins on a private PATH; nothing is installed)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support import REPO_ROOT

SCRIPT = REPO_ROOT / "scripts" / "install-system-packages.sh"
_LIST = SCRIPT.read_text().split("PACKAGES=(", 1)[1].split(")", 1)[0]
PACKAGES = [line.split("#")[0].strip() for line in _LIST.splitlines() if line.split("#")[0].strip()]
DEBIAN_NODE = "18.20.4+dfsg-1~deb12u3"
NODESOURCE_NODE = "20.20.2-1nodesource1+repack1"

_DPKG_QUERY = """#!/bin/bash
# dpkg-query -W -f=FORMAT PACKAGE
pkg="$3"; fmt="$2"
case " $FAKE_INSTALLED " in *" $pkg "*) ;; *) exit 1 ;; esac
case "$fmt" in
  *Status*) printf 'install ok installed' ;;
  *Version*) [ "$pkg" = nodejs ] && printf '%s' "$FAKE_NODE_VERSION" ;;
esac
"""
_APT_GET = """#!/bin/bash
echo "$*" >> "$FAKE_LOG"
"""


def _run(tmp_path: Path, *, installed: list[str], node: str, npm: bool) -> tuple[str, list[str]]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("dpkg-query", _DPKG_QUERY), ("apt-get", _APT_GET), ("id", "echo 0\n")):
        path = bin_dir / name
        path.write_text(text if text.startswith("#!") else "#!/bin/bash\n" + text)
        path.chmod(0o755)
    grep = shutil.which("grep")
    assert grep is not None
    (bin_dir / "grep").symlink_to(grep)
    if npm:
        (bin_dir / "npm").write_text("#!/bin/bash\n")
        (bin_dir / "npm").chmod(0o755)
    log = tmp_path / "apt.log"
    env = {
        "PATH": str(bin_dir),
        "FAKE_INSTALLED": " ".join(installed),
        "FAKE_NODE_VERSION": node,
        "FAKE_LOG": str(log),
    }
    bash = shutil.which("bash")
    assert bash is not None
    proc = subprocess.run(
        [bash, str(SCRIPT)], env=env, capture_output=True, text=True, timeout=30, check=False
    )
    assert proc.returncode == 0, proc.stderr
    calls = log.read_text().splitlines() if log.is_file() else []
    return proc.stdout + proc.stderr, calls


def _installs(calls: list[str]) -> list[list[str]]:
    return [c.split()[1:] for c in calls if c.split()[0] == "install"]


def test_nothing_to_do_when_everything_and_npm_are_present(tmp_path: Path) -> None:
    out, calls = _run(tmp_path, installed=PACKAGES, node=NODESOURCE_NODE, npm=True)
    assert calls == []
    assert "all present" in out


def test_debian_nodejs_without_npm_gets_debian_npm(tmp_path: Path) -> None:
    _, calls = _run(tmp_path, installed=PACKAGES, node=DEBIAN_NODE, npm=False)
    installs = _installs(calls)
    assert len(installs) == 1
    assert installs[0][-1] == "npm"
    assert "--no-remove" in installs[0]  # a conflict must abort, never remove nodejs


def test_nodesource_nodejs_is_never_replaced(tmp_path: Path) -> None:
    out, calls = _run(tmp_path, installed=PACKAGES, node=NODESOURCE_NODE, npm=False)
    assert _installs(calls) == []
    assert "NodeSource" in out


@pytest.mark.parametrize("npm", [False, True])
def test_fresh_machine_installs_nodejs_then_npm_only_if_needed(tmp_path: Path, npm: bool) -> None:
    absent = [p for p in PACKAGES if p not in ("nodejs", "amtterm")]
    _, calls = _run(tmp_path, installed=absent, node="", npm=npm)
    installs = _installs(calls)
    assert {"nodejs", "amtterm"} <= set(installs[0])
    assert "npm" not in installs[0]
    assert [i[-1] for i in installs[1:]] == ([] if npm else ["npm"])
    assert sum(c.startswith("update") for c in calls) == 1  # one apt-get update at most
