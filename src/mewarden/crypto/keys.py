"""Where the org key comes from: a 0600 key file, an environment variable, or a key command.

All three carry the key as base64 text (44 characters for 32 bytes). Precedence:
``$MEWARDEN_ORG_KEY`` (for containers), then a key command (``--key-command`` or
``$MEWARDEN_KEY_COMMAND``: a KMS or password-manager CLI printing the key; run without a shell),
then the key file (``--key-file``, ``$MEWARDEN_KEY_FILE``, or ``org.key`` beside the database).
"""

from __future__ import annotations

import base64
import binascii
import os
import shlex
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

from mewarden.crypto.vault import KEY_BYTES, OrgKey
from mewarden.errors import VaultError
from mewarden.fsutil import atomic_write_text

ENV_KEY = "MEWARDEN_ORG_KEY"
ENV_COMMAND = "MEWARDEN_KEY_COMMAND"
ENV_FILE = "MEWARDEN_KEY_FILE"
_COMMAND_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True, kw_only=True)
class KeySource:
    """How to obtain the org key (only one of ``command``/``file`` is used)."""

    command: str | None = None
    file: Path | None = None

    def describe(self) -> str:
        """Where the key comes from, for messages (never the key)."""
        if os.environ.get(ENV_KEY):
            return f"${ENV_KEY}"
        if self.command:
            return "the key command"
        return f"key file {self.file}"


def decode_key(text: str, *, where: str) -> OrgKey:
    """Parse base64 key text; anything else is a one-line VaultError naming ``where``."""
    try:
        material = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise VaultError(f"the org key in {where} is not valid base64") from None
    if len(material) != KEY_BYTES:
        raise VaultError(f"the org key in {where} is corrupt: expected {KEY_BYTES} bytes")
    return OrgKey(material=material)


def encode_key(key: OrgKey) -> str:
    """The base64 text form of ``key`` (what key files and the env var hold)."""
    return base64.b64encode(key.material).decode("ascii") + "\n"


def load_key(source: KeySource) -> OrgKey:
    """The org key from the first configured source."""
    env_value = os.environ.get(ENV_KEY)
    if env_value:
        return decode_key(env_value, where=f"${ENV_KEY}")
    if source.command:
        return decode_key(_run_key_command(source.command), where="the key command's output")
    if source.file is None:
        raise VaultError("no org key configured (key file, key command or $MEWARDEN_ORG_KEY)")
    return read_key_file(source.file)


def read_key_file(path: Path) -> OrgKey:
    """The key in a 0600 key file (whatever ``$MEWARDEN_ORG_KEY`` says)."""
    try:
        info = path.stat()
        text = path.read_text("ascii")
    except FileNotFoundError:
        raise VaultError(f"org key file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise VaultError(f"cannot read org key file {path}: {type(exc).__name__}") from None
    if stat.S_IMODE(info.st_mode) & 0o077:
        raise VaultError(f"org key file {path} is readable by others; chmod 600 it")
    return decode_key(text, where=f"key file {path}")


def _run_key_command(command: str) -> str:
    try:
        done = subprocess.run(
            shlex.split(command),
            capture_output=True,
            timeout=_COMMAND_TIMEOUT_S,
            check=False,
        )
    except (OSError, ValueError, subprocess.TimeoutExpired) as exc:
        raise VaultError(f"the key command could not run: {type(exc).__name__}") from None
    if done.returncode != 0:
        raise VaultError(f"the key command failed with exit code {done.returncode}")
    return done.stdout.decode("ascii", errors="replace")


def write_key_file(path: Path, key: OrgKey, *, overwrite: bool = False) -> None:
    """Create a key file with mode 0600 (atomically; refuses to clobber unless asked)."""
    if path.exists() and not overwrite:
        raise VaultError(f"org key file {path} already exists; refusing to overwrite it")
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    atomic_write_text(path, encode_key(key), mode=0o600)
