"""Host-based activation over WS-MAN (``IPS_HostBasedSetupService``), reference ``amt.md`` §1.11.

The calls, in the order activation makes them: the digest realm, the firmware's
ConfigurationNonce, AddNextCertInChain (ACM), Setup / AdminSetup / UpgradeClientToAdmin, then
SetMEBxPassword and CommitChanges. A non-zero ReturnValue raises
:class:`~mewarden.errors.AmtReturnValueError` with the code's name.
"""

from __future__ import annotations

import base64
import enum
import hashlib

from mewarden.amt.session import Session, get
from mewarden.errors import AmtReturnValueError
from mewarden.secret import Secret
from mewarden.wsman import envelope as env
from mewarden.wsman.envelope import Properties

HTTP_DIGEST_MD5_A1 = 2
DATA_MISSING = 2057
_SETUP = "IPS_HostBasedSetupService"
_CONFIG = "AMT_SetupAndConfigurationService"


class SetupReturn(enum.IntEnum):
    """Setup_OUTPUT / AdminSetup_OUTPUT ReturnValue."""

    SUCCESS = 0
    INTERNAL_ERROR = 1
    INVALID_STATE = 2
    INVALID_PARAMETER = 3
    METHOD_DISABLED = 4
    AUTH_FAILED = 5
    FLASH_WRITE_LIMIT_EXCEEDED = 6


class CertChainReturn(enum.IntEnum):
    """AddNextCertInChain_OUTPUT ReturnValue."""

    SUCCESS = 0
    INVALID_PARAMETER = 1
    INTERNAL_ERROR = 2
    INVALID_STATE = 3
    CERTIFICATE_VERIFY_FAILED = 4
    CERTIFICATE_CHAIN_TOO_LONG = 5


def network_admin_password(realm: str, password: Secret) -> str:
    """lowercase hex MD5("admin:" + realm + ":" + password): the HA1 Setup/AdminSetup take."""
    material = f"admin:{realm}:{password.reveal()}".encode()
    return hashlib.md5(material, usedforsecurity=False).hexdigest()


async def read_realm(session: Session) -> str:
    return (await get(session, "AMT_GeneralSettings")).text("DigestRealm")


async def read_configuration_nonce(session: Session) -> bytes:
    """The firmware nonce AdminSetup's signature must cover."""
    text = (await get(session, _SETUP)).text("ConfigurationNonce")
    return base64.b64decode(text)


async def _call(
    session: Session, class_name: str, method: str, params: Properties, names: type[enum.IntEnum]
) -> int:
    request = env.invoke(class_name, method, params, message_id=session.message_id())
    output = (await session.send(request)).first
    value = output.integer("ReturnValue")
    if value is None:
        raise AmtReturnValueError(f"{method} returned no ReturnValue", return_value=-1)
    if value != 0:
        try:
            name = names(value).name
        except ValueError:
            name = "unknown code"
        raise AmtReturnValueError(
            f"{method} failed with ReturnValue {value} ({name})", return_value=value
        )
    return value


async def setup(session: Session, realm: str, password: Secret) -> None:
    """Client control mode: ``Setup(2, HA1)``."""
    params = (
        ("NetAdminPassEncryptionType", HTTP_DIGEST_MD5_A1),
        ("NetworkAdminPassword", network_admin_password(realm, password)),
    )
    await _call(session, _SETUP, "Setup", params, SetupReturn)


async def add_chain(session: Session, chain_der: tuple[bytes, ...]) -> None:
    """Inject the chain leaf first (AddNextCertInChain per certificate)."""
    for index, der in enumerate(chain_der):
        params = (
            ("NextCertificate", base64.b64encode(der).decode()),
            ("IsLeafCertificate", index == 0),
            ("IsRootCertificate", index == len(chain_der) - 1),
        )
        await _call(session, _SETUP, "AddNextCertInChain", params, CertChainReturn)


async def admin_setup(
    session: Session, realm: str, password: Secret, mc_nonce: bytes, signature: str
) -> None:
    """Admin control mode: ``AdminSetup(2, HA1, McNonce, 2, DigitalSignature)``."""
    params = (
        ("NetAdminPassEncryptionType", HTTP_DIGEST_MD5_A1),
        ("NetworkAdminPassword", network_admin_password(realm, password)),
        ("McNonce", base64.b64encode(mc_nonce).decode()),
        ("SigningAlgorithm", 2),
        ("DigitalSignature", signature),
    )
    await _call(session, _SETUP, "AdminSetup", params, SetupReturn)


async def upgrade_client_to_admin(session: Session, mc_nonce: bytes, signature: str) -> None:
    """CCM -> ACM: ``UpgradeClientToAdmin(McNonce, 2, DigitalSignature)``."""
    params = (
        ("McNonce", base64.b64encode(mc_nonce).decode()),
        ("SigningAlgorithm", 2),
        ("DigitalSignature", signature),
    )
    await _call(session, _SETUP, "UpgradeClientToAdmin", params, SetupReturn)


async def commit_changes(session: Session) -> int:
    """CommitChanges; returns 2057 (DATA_MISSING: MEBx password still needed) without raising."""
    request = env.invoke(_CONFIG, "CommitChanges", (), message_id=session.message_id())
    value = (await session.send(request)).first.integer("ReturnValue")
    if value not in (0, DATA_MISSING):
        raise AmtReturnValueError(
            f"CommitChanges failed with ReturnValue {value}", return_value=value or -1
        )
    return value


async def set_mebx_password(session: Session, password: Secret) -> None:
    params = (("Password", password.reveal()),)
    request = env.invoke(_CONFIG, "SetMEBxPassword", params, message_id=session.message_id())
    value = (await session.send(request)).first.integer("ReturnValue")
    if value != 0:
        raise AmtReturnValueError(
            f"SetMEBxPassword failed with ReturnValue {value}", return_value=value or -1
        )
