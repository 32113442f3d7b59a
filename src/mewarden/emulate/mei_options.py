"""The emulator CLI's MEI options: trust anchors from ``--trusted-root-hash`` and the optional
``--mei-dir`` endpoints (kept here so ``cmd_emulate`` only calls two functions)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from mewarden.emulate.fleet import EmulatedFleet
from mewarden.emulate.hostsetup_state import HostTrust
from mewarden.emulate.mei_server import MeiEndpoints, start_mei_endpoints
from mewarden.errors import BadInputError


def host_trust(hashes: Sequence[str], dns_suffix: str) -> HostTrust:
    """Validate ``--trusted-root-hash`` values (64 hex digits, colons allowed)."""
    parsed: list[bytes] = []
    for text in hashes:
        cleaned = text.replace(":", "").strip().lower()
        if len(cleaned) != 64 or any(c not in "0123456789abcdef" for c in cleaned):
            raise BadInputError(f"--trusted-root-hash {text!r} is not a SHA-256 (64 hex digits)")
        parsed.append(bytes.fromhex(cleaned))
    return HostTrust(trusted_root_hashes=tuple(parsed), pki_dns_suffix=dns_suffix.strip())


@contextlib.asynccontextmanager
async def optional_mei_endpoints(
    fleet: EmulatedFleet, directory: Path | None
) -> AsyncIterator[MeiEndpoints | None]:
    if directory is None:
        yield None
        return
    async with start_mei_endpoints(fleet, directory) as endpoints:
        yield endpoints
