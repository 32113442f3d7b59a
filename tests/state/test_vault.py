"""Vault: envelope encryption, associated data, key sources, rotation on both engines."""

from __future__ import annotations

import base64
import os
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from mewarden.crypto import keys
from mewarden.crypto.vault import NONCE_BYTES, OrgKey, rewrap, seal, secret_aad, unseal
from mewarden.errors import VaultError
from mewarden.secret import Secret
from mewarden.state.models import NodeSpec, Purpose
from mewarden.state.store import Store

ADMIN = Purpose.AMT_ADMIN.value


def test_seal_round_trip_and_aad_binding(org_key: OrgKey) -> None:
    sealed = seal(org_key, Secret("Sup3r$ecret!"), node="n1", purpose=ADMIN)
    assert b"Sup3r$ecret!" not in sealed.ciphertext + sealed.wrapped_key
    assert unseal(org_key, sealed, node="n1", purpose=ADMIN).reveal() == "Sup3r$ecret!"
    with pytest.raises(VaultError, match="failed to decrypt"):
        unseal(org_key, sealed, node="n2", purpose=ADMIN)
    with pytest.raises(VaultError, match="failed to decrypt"):
        unseal(org_key, sealed, node="n1", purpose="other")


def test_format_is_plain_aes_gcm(org_key: OrgKey) -> None:
    """Independent check with the cryptography primitive: nonce || AES-GCM(ct+tag)."""
    sealed = seal(org_key, Secret("pw"), node="n1", purpose=ADMIN)
    wrapped = sealed.wrapped_key
    aad = b"mewarden-vault-v1|data-key|" + org_key.key_id.encode()
    data_key = AESGCM(org_key.material).decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], aad)
    assert len(data_key) == 32
    text = AESGCM(data_key).decrypt(
        sealed.ciphertext[:NONCE_BYTES], sealed.ciphertext[NONCE_BYTES:], secret_aad("n1", ADMIN)
    )
    assert text == b"pw"


def test_wrong_key_and_tampering_fail(org_key: OrgKey) -> None:
    sealed = seal(org_key, Secret("pw"), node="n1", purpose=ADMIN)
    with pytest.raises(VaultError, match="wrapped by org key"):
        unseal(OrgKey.generate(), sealed, node="n1", purpose=ADMIN)
    flipped = bytearray(sealed.ciphertext)
    flipped[-1] ^= 1
    bad = type(sealed)(
        key_id=sealed.key_id, wrapped_key=sealed.wrapped_key, ciphertext=bytes(flipped)
    )
    with pytest.raises(VaultError):
        unseal(org_key, bad, node="n1", purpose=ADMIN)


def test_rewrap_keeps_secret(org_key: OrgKey) -> None:
    new = OrgKey.generate()
    sealed = seal(org_key, Secret("pw"), node="n1", purpose=ADMIN)
    moved = rewrap(sealed, old=org_key, new=new)
    assert moved.ciphertext == sealed.ciphertext
    assert unseal(new, moved, node="n1", purpose=ADMIN).reveal() == "pw"


def test_key_file_is_0600_and_loads(
    tmp_path: Path, org_key: OrgKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(keys.ENV_KEY, raising=False)
    path = tmp_path / "sub" / "org.key"
    keys.write_key_file(path, org_key)
    assert path.stat().st_mode & 0o777 == 0o600
    assert keys.load_key(keys.KeySource(file=path)).key_id == org_key.key_id
    with pytest.raises(VaultError, match="already exists"):
        keys.write_key_file(path, OrgKey.generate())


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"not base64!!", "not valid base64"), (base64.b64encode(b"short"), "corrupt")],
)
def test_corrupt_key_file(
    tmp_path: Path, content: bytes, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(keys.ENV_KEY, raising=False)
    path = tmp_path / "org.key"
    path.write_bytes(content)
    path.chmod(0o600)
    with pytest.raises(VaultError, match=message):
        keys.load_key(keys.KeySource(file=path))


def test_world_readable_key_file_refused(
    tmp_path: Path, org_key: OrgKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(keys.ENV_KEY, raising=False)
    path = tmp_path / "org.key"
    keys.write_key_file(path, org_key)
    path.chmod(0o644)
    with pytest.raises(VaultError, match="chmod 600"):
        keys.load_key(keys.KeySource(file=path))


def test_env_and_command_sources(
    tmp_path: Path, org_key: OrgKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = keys.encode_key(org_key).strip()
    monkeypatch.setenv(keys.ENV_KEY, text)
    assert keys.load_key(keys.KeySource(file=tmp_path / "absent")).key_id == org_key.key_id
    monkeypatch.delenv(keys.ENV_KEY)
    script = tmp_path / "kms.py"
    script.write_text(f"print({text!r})\n")
    source = keys.KeySource(command=f"{sys.executable} {script}")
    assert keys.load_key(source).key_id == org_key.key_id
    with pytest.raises(VaultError, match="exit code 3"):
        keys.load_key(keys.KeySource(command=f"{sys.executable} -c 'raise SystemExit(3)'"))


def test_store_rotation_keeps_every_credential(store: Store, org_key: OrgKey) -> None:
    passwords = {f"n{i}": base64.b64encode(os.urandom(12)).decode() for i in range(20)}
    for name, password in passwords.items():
        store.add_node(NodeSpec(name=name))
        store.put_credential(
            name, ADMIN, "admin", seal(org_key, Secret(password), node=name, purpose=ADMIN)
        )
    new = OrgKey.generate()
    assert store.rotate_key(org_key, new) == 20
    store.check_key(new)
    with pytest.raises(VaultError, match="wrong org key"):
        store.check_key(org_key)
    for name, password in passwords.items():
        user, sealed = store.credential(name, ADMIN)
        assert user == "admin"
        assert unseal(new, sealed, node=name, purpose=ADMIN).reveal() == password


def test_rotation_with_wrong_old_key_changes_nothing(store: Store, org_key: OrgKey) -> None:
    store.add_node(NodeSpec(name="n1"))
    store.put_credential(
        "n1", ADMIN, "admin", seal(org_key, Secret("pw"), node="n1", purpose=ADMIN)
    )
    with pytest.raises(VaultError):
        store.rotate_key(OrgKey.generate(), OrgKey.generate())
    _, sealed = store.credential("n1", ADMIN)
    assert unseal(org_key, sealed, node="n1", purpose=ADMIN).reveal() == "pw"
