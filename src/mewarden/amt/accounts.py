"""Admin password change (``AMT_AuthorizationService.SetAdminAclEntryEx``), reference §1.8.

DigestPassword is base64 of the raw 16-byte MD5("admin:" + DigestRealm + ":" + password):
the password itself never crosses the wire.
"""

from __future__ import annotations

import base64
import hashlib

from mewarden.amt.session import Session, get, invoke
from mewarden.errors import BadInputError
from mewarden.secret import Secret

MIN_PASSWORD_LENGTH = 8


def admin_digest_password(realm: str, password: Secret, *, username: str = "admin") -> str:
    """base64(MD5(username:realm:password)) as SetAdminAclEntryEx wants it."""
    material = f"{username}:{realm}:{password.reveal()}".encode()
    return base64.b64encode(hashlib.md5(material, usedforsecurity=False).digest()).decode()


def check_password_strength(password: Secret) -> None:
    """AMT wants 8-32 characters with a digit, an upper- and lower-case letter and a symbol."""
    text = password.reveal()
    checks = (
        MIN_PASSWORD_LENGTH <= len(text) <= 32,
        any(c.isdigit() for c in text),
        any(c.isupper() for c in text),
        any(c.islower() for c in text),
        any(not c.isalnum() for c in text),
    )
    if not all(checks):
        raise BadInputError(
            "the new AMT password needs 8-32 characters with a digit, an upper-case letter, "
            "a lower-case letter and a symbol"
        )


async def set_admin_password(
    session: Session, new_password: Secret, *, username: str = "admin"
) -> str:
    """Read the realm, then SetAdminAclEntryEx; returns the realm used."""
    check_password_strength(new_password)
    realm = (await get(session, "AMT_GeneralSettings")).text("DigestRealm")
    digest = admin_digest_password(realm, new_password, username=username)
    await invoke(
        session,
        "AMT_AuthorizationService",
        "SetAdminAclEntryEx",
        (("Username", username), ("DigestPassword", digest)),
    )
    return realm
