"""TLS settings read (``AMT_TLSSettingData``: remote 802.3 and local LMS instances)."""

from __future__ import annotations

from dataclasses import dataclass

from mewarden.amt.session import Session, enumerate_all
from mewarden.wsman.parse import Instance


@dataclass(frozen=True, slots=True, kw_only=True)
class TlsSetting:
    """One TLS setting instance."""

    instance_id: str
    enabled: bool
    accept_non_secure: bool
    mutual_authentication: bool
    trusted_cn: tuple[str, ...]


def decode_tls_setting(instance: Instance) -> TlsSetting:
    """Decode one ``AMT_TLSSettingData`` instance."""
    return TlsSetting(
        instance_id=instance.text("InstanceID"),
        enabled=bool(instance.boolean("Enabled", False)),
        accept_non_secure=bool(instance.boolean("AcceptNonSecureConnections", False)),
        mutual_authentication=bool(instance.boolean("MutualAuthentication", False)),
        trusted_cn=instance.texts("TrustedCN"),
    )


async def read_tls_settings(session: Session) -> tuple[TlsSetting, ...]:
    """Enumerate ``AMT_TLSSettingData``."""
    return tuple(decode_tls_setting(i) for i in await enumerate_all(session, "AMT_TLSSettingData"))
