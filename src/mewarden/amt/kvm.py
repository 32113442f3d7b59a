"""KVM from the client side: the checks before a session (enabled? consent?), ``IPS_KVMRedirection
SettingData`` (port 5900, RFB password, opt-in policy, session timeout; reference §1.9), and one
screenshot: :mod:`mewarden.redirect.kvm_screen`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from mewarden.amt.redirection import RFB_PASSWORD_LENGTH, read_redirection
from mewarden.amt.session import Session, get, put
from mewarden.errors import AmtUnsupportedError, BadInputError
from mewarden.secret import Secret
from mewarden.wsman.envelope import Value
from mewarden.wsman.parse import Instance

if TYPE_CHECKING:
    from mewarden.amt.client import Endpoint

SETTINGS_CLASS = "IPS_KVMRedirectionSettingData"
_READ_ONLY = frozenset({"EnabledByMEBx", "RFBPassword"})


def enable_hint(endpoint: Endpoint) -> str:
    """The command that turns KVM on (named in every 'KVM is disabled' error)."""
    host = f"{endpoint.host}:{endpoint.port}" if endpoint.port else endpoint.host
    tls = " --tls" if endpoint.tls else ""
    return f"mewarden amt --host {host}{tls} redirection enable --kvm"


@dataclass(frozen=True, slots=True, kw_only=True)
class KvmSettings:
    """What AMT keeps about KVM (the RFB password is write-only: AMT never returns it)."""

    kvm_enabled: bool
    listener_enabled: bool
    port_5900: bool
    opt_in_policy: bool
    """Whether a 5900 session needs user consent."""
    opt_in_policy_timeout_s: int
    session_timeout_min: int
    enabled_by_mebx: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class KvmSettingsChange:
    """Settings to write; ``None`` leaves one as it is."""

    port_5900: bool | None = None
    rfb_password: Secret | None = None
    opt_in_policy: bool | None = None
    session_timeout_min: int | None = None

    @property
    def empty(self) -> bool:
        return all(
            v is None
            for v in (
                self.port_5900,
                self.rfb_password,
                self.opt_in_policy,
                self.session_timeout_min,
            )
        )


def check_rfb_password(password: Secret) -> Secret:
    if len(password.reveal()) != RFB_PASSWORD_LENGTH:
        raise BadInputError("the RFB (port 5900) password must be exactly 8 characters")
    return password


async def read_kvm_settings(session: Session) -> KvmSettings:
    """The KVM SAP state, the redirection listener and the KVM setting data."""
    status = await read_redirection(session)
    return decode_settings(await get(session, SETTINGS_CLASS), status.kvm, status.listener)


def decode_settings(instance: Instance, kvm_enabled: bool, listener: bool) -> KvmSettings:
    return KvmSettings(
        kvm_enabled=kvm_enabled,
        listener_enabled=listener,
        port_5900=bool(instance.boolean("Is5900PortEnabled", False)),
        opt_in_policy=bool(instance.boolean("OptInPolicy", True)),
        opt_in_policy_timeout_s=instance.integer("OptInPolicyTimeout", 0) or 0,
        session_timeout_min=instance.integer("SessionTimeout", 0) or 0,
        enabled_by_mebx=bool(instance.boolean("EnabledByMEBx", False)),
    )


def settings_props(current: Instance, change: KvmSettingsChange) -> list[tuple[str, Value]]:
    """The Put body: the current instance without the read-only fields, changes applied, and
    the new RFB password when one is set (AMT does not return it, so it is appended)."""
    replaced: dict[str, Value] = {}
    if change.port_5900 is not None:
        replaced["Is5900PortEnabled"] = change.port_5900
    if change.opt_in_policy is not None:
        replaced["OptInPolicy"] = change.opt_in_policy
    if change.session_timeout_min is not None:
        replaced["SessionTimeout"] = change.session_timeout_min
    props: list[tuple[str, Value]] = [
        (name, replaced.pop(name, current.text(name)))
        for name in current.properties
        if name not in _READ_ONLY
    ]
    props.extend(replaced.items())
    if change.rfb_password is not None:
        props.append(("RFBPassword", check_rfb_password(change.rfb_password).reveal()))
    return props


async def change_kvm_settings(session: Session, change: KvmSettingsChange) -> KvmSettings:
    """Write ``change`` (nothing when empty) and return the settings read back."""
    if change.rfb_password is not None:
        check_rfb_password(change.rfb_password)  # before any network
    if not change.empty:
        current = await get(session, SETTINGS_CLASS)
        await put(session, SETTINGS_CLASS, settings_props(current, change))
    return await read_kvm_settings(session)


async def require_kvm(session: Session, endpoint: Endpoint) -> KvmSettings:
    """The settings, or AmtUnsupportedError naming the enabling command when KVM is off."""
    settings = await read_kvm_settings(session)
    if not settings.kvm_enabled or not settings.listener_enabled:
        raise AmtUnsupportedError(
            f"KVM is disabled on {endpoint.host}; enable it with: {enable_hint(endpoint)}"
        )
    return settings
