"""Validate, load and compare nftables rulesets with the real ``nft`` (the I/O shell).

* :func:`check_ruleset` runs ``nft -c -f`` inside a throwaway network namespace (plus a user
  namespace when not root: ``unshare -U -r -n``): ``nft -c`` needs netlink even to parse, and
  in a fresh namespace it works unprivileged and never sees the host's own ruleset.
* :func:`apply_ruleset` runs ``nft -f``: the rendered file replaces mewarden's tables in one
  transaction, so a failing load leaves the old rules in place.
* :func:`diff_ruleset` lists the live tables and the rendered ones (loaded into a throwaway
  namespace, so both sides are nft's canonical form, without counters) and diffs them.
"""

from __future__ import annotations

import difflib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from mewarden.errors import BadInputError, ExternalToolError
from mewarden.netblock.render import check_identifier

_TIMEOUT_S = 60
_SYS_NET = Path("/sys/class/net")


def _tool(name: str) -> str:
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin:/usr/local/sbin")
    if path is None:
        raise ExternalToolError(f"{name} is not installed (Debian package: nftables/util-linux)")
    return path


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise ExternalToolError(f"{Path(argv[0]).name} did not finish in {_TIMEOUT_S} s") from None


def _first_error(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    return lines[0] if lines else "no error message"


def _in_namespace(ruleset: bytes, script: str) -> subprocess.CompletedProcess[str]:
    """Run ``sh -c script`` (which sees the ruleset file as ``$1``) in a throwaway namespace."""
    with tempfile.NamedTemporaryFile(prefix="mewarden-netblock-", suffix=".nft") as handle:
        handle.write(ruleset)
        handle.flush()
        return _run([*_unshare(), "sh", "-c", script, "sh", handle.name])


def _unshare() -> list[str]:
    """A new network namespace; unprivileged callers also need a new user namespace.

    Root skips the user namespace on purpose: only there can nft and iptables-restore enlarge
    their netlink buffers (SO_SNDBUFFORCE), which rulesets for thousands of nodes need; in a
    user namespace they fail with "Message too long".
    """
    if os.geteuid() == 0:
        return [_tool("unshare"), "-n"]
    return [_tool("unshare"), "-U", "-r", "-n"]


def check_ruleset(ruleset: bytes) -> None:
    """Raise :class:`ExternalToolError` with nft's first message if nft rejects the ruleset."""
    nft = _tool("nft")
    result = _in_namespace(ruleset, f'exec {nft} -c -f "$1"')
    if result.returncode != 0:
        raise ExternalToolError(f"nft rejects the ruleset: {_first_error(result.stderr)}")


def check_iptables(ruleset: bytes, *, version: int) -> None:
    """``iptables-restore --test`` (or ip6tables) in a throwaway namespace."""
    tool = _tool("iptables-restore" if version == 4 else "ip6tables-restore")
    result = _in_namespace(ruleset, f'exec {tool} --test "$1"')
    if result.returncode != 0:
        name = Path(tool).name
        raise ExternalToolError(f"{name} rejects the ruleset: {_first_error(result.stderr)}")


def apply_ruleset(ruleset: bytes) -> None:
    """Load the ruleset on this machine (atomically replaces mewarden's tables)."""
    nft = _tool("nft")
    with tempfile.NamedTemporaryFile(prefix="mewarden-netblock-", suffix=".nft") as handle:
        handle.write(ruleset)
        handle.flush()
        result = _run([nft, "-f", handle.name])
    if result.returncode != 0:
        raise ExternalToolError(f"nft could not load the ruleset: {_first_error(result.stderr)}")


def canonical_rendered(ruleset: bytes) -> str:
    """The rendered ruleset as nft lists it (loaded into an empty throwaway namespace)."""
    nft = _tool("nft")
    result = _in_namespace(ruleset, f'{nft} -f "$1" && exec {nft} -s list ruleset')
    if result.returncode != 0:
        raise ExternalToolError(f"nft rejects the ruleset: {_first_error(result.stderr)}")
    return result.stdout


def live_tables(table: str) -> str:
    """This machine's ``inet`` and ``bridge`` tables named ``table`` (empty when absent)."""
    nft = _tool("nft")
    result = _run([nft, "-s", "list", "ruleset"])
    if result.returncode != 0:
        raise ExternalToolError(f"nft cannot list the ruleset: {_first_error(result.stderr)}")
    return only_tables(result.stdout, table)


def only_tables(listing: str, table: str) -> str:
    """Keep the ``table inet NAME`` and ``table bridge NAME`` blocks of an nft listing."""
    wanted = {f"table inet {table} {{", f"table bridge {table} {{"}
    kept: list[str] = []
    keeping = False
    for line in listing.splitlines():
        if not line.startswith(("\t", " ")) and line.startswith("table "):
            keeping = line in wanted
        if keeping:
            kept.append(line)
        if keeping and line == "}":
            keeping = False
    return "\n".join(kept) + ("\n" if kept else "")


def diff_ruleset(ruleset: bytes, table: str) -> str:
    """A unified diff from the live tables to the rendered ones; empty when they agree."""
    wanted = only_tables(canonical_rendered(ruleset), table)
    live = live_tables(table)
    lines = difflib.unified_diff(
        live.splitlines(keepends=True),
        wanted.splitlines(keepends=True),
        fromfile=f"live (table {table})",
        tofile="rendered",
    )
    return "".join(lines)


def check_bridge_port(name: str, sys_net: Path = _SYS_NET) -> None:
    """Refuse a ``--bridge-port`` that names a bridge, or a local interface in no bridge.

    The bridge table scopes with ``iifname``, the port a frame entered on; the bridge's own
    name never matches there (``meta ibrname`` would, but needs nft_meta_bridge, which many
    kernels lack), so ``br0`` would silently filter nothing. An interface absent here passes:
    nft matches names, and the port may be created later.
    """
    check_identifier(name, what="bridge port name")
    device = sys_net / name
    if (device / "bridge").is_dir():
        ports = (
            sorted(p.name for p in (device / "brif").iterdir())
            if (device / "brif").is_dir()
            else []
        )
        hint = f" (its ports: {', '.join(ports)})" if ports else ""
        raise BadInputError(
            f"--bridge-port {name}: {name} is a bridge; give one of its ports{hint}"
        )
    if device.exists() and not (device / "brport").exists():
        raise BadInputError(f"--bridge-port {name}: {name} is not a port of any bridge here")
