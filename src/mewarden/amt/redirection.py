"""Redirection (SOL, IDER, KVM, listener, port 5900) enable/disable, reference §1.9.

Enabling follows console: ``AMT_RedirectionService.RequestStateChange`` with 32768 + 1 (IDER)
+ 2 (SOL), then Put the service back with the new EnabledState and ``ListenerEnabled`` = any
feature on; KVM through ``CIM_KVMRedirectionSAP.RequestStateChange`` 2/3; port 5900 and the
RFB password through ``IPS_KVMRedirectionSettingData``.
"""

from __future__ import annotations

from dataclasses import dataclass

from mewarden.amt.session import Session, get, invoke, put
from mewarden.errors import BadInputError
from mewarden.secret import Secret
from mewarden.wsman.envelope import Value
from mewarden.wsman.parse import Instance
from mewarden.wsman.resources import KvmState, RedirectionState

RFB_PASSWORD_LENGTH = 8
_KVM_SETTINGS_READ_ONLY = frozenset({"EnabledByMEBx", "RFBPassword"})


@dataclass(frozen=True, slots=True, kw_only=True)
class RedirectionStatus:
    """What is enabled."""

    sol: bool
    ider: bool
    kvm: bool
    listener: bool
    port_5900: bool
    enabled_state: RedirectionState | int
    kvm_state: KvmState | int


@dataclass(frozen=True, slots=True, kw_only=True)
class RedirectionChange:
    """Features to switch; ``None`` leaves a feature as it is."""

    sol: bool | None = None
    ider: bool | None = None
    kvm: bool | None = None
    port_5900: bool | None = None
    rfb_password: Secret | None = None


def _state(value: int | None, kind: type[RedirectionState] | type[KvmState]) -> int:
    if value is None:
        return 0
    try:
        return kind(value)
    except ValueError:
        return value


def decode_status(
    service: Instance, kvm: Instance, kvm_settings: Instance | None
) -> RedirectionStatus:
    """Combine the redirection service, the KVM SAP and the KVM setting data."""
    enabled = service.integer("EnabledState", 0) or 0
    kvm_state = kvm.integer("EnabledState", 0) or 0
    return RedirectionStatus(
        sol=enabled in (RedirectionState.SOL_ENABLED, RedirectionState.IDER_SOL_ENABLED),
        ider=enabled in (RedirectionState.IDER_ENABLED, RedirectionState.IDER_SOL_ENABLED),
        kvm=kvm_state in (KvmState.ENABLED, KvmState.ENABLED_BUT_OFFLINE),
        listener=bool(service.boolean("ListenerEnabled", False)),
        port_5900=bool(kvm_settings and kvm_settings.boolean("Is5900PortEnabled", False)),
        enabled_state=_state(enabled, RedirectionState),
        kvm_state=_state(kvm_state, KvmState),
    )


def requested_state(*, sol: bool, ider: bool) -> RedirectionState:
    """32768 + 1 for IDER + 2 for SOL."""
    return RedirectionState(RedirectionState.IDER_SOL_DISABLED + int(ider) + 2 * int(sol))


def service_props(
    current: Instance, state: RedirectionState, *, listener: bool
) -> list[tuple[str, Value]]:
    """The ``AMT_RedirectionService`` Put body with EnabledState and ListenerEnabled replaced."""
    props: list[tuple[str, Value]] = []
    for name in current.properties:
        if name == "EnabledState":
            props.append((name, int(state)))
        elif name == "ListenerEnabled":
            props.append((name, listener))
        else:
            props.append((name, current.text(name)))
    if "ListenerEnabled" not in current.properties:
        props.append(("ListenerEnabled", listener))
    return props


async def read_redirection(session: Session) -> RedirectionStatus:
    """Get the service, the KVM SAP and the KVM settings."""
    service = await get(session, "AMT_RedirectionService")
    kvm = await get(session, "CIM_KVMRedirectionSAP")
    settings = await get(session, "IPS_KVMRedirectionSettingData")
    return decode_status(service, kvm, settings)


def kvm_settings_props(current: Instance, change: RedirectionChange) -> list[tuple[str, Value]]:
    """The ``IPS_KVMRedirectionSettingData`` Put body: the current instance without
    ``EnabledByMEBx`` (set in MEBx only), port 5900 as ``change`` says, and the new RFB password
    in place of any echoed one (AMT does not return it; it is appended then)."""
    _check_rfb_password(change)
    password = change.rfb_password
    props: list[tuple[str, Value]] = []
    for name in current.properties:
        if name == "RFBPassword" and password is not None:
            props.append((name, password.reveal()))
            password = None
        elif name in _KVM_SETTINGS_READ_ONLY:
            continue
        elif name == "Is5900PortEnabled" and change.port_5900 is not None:
            props.append((name, change.port_5900))
        else:
            props.append((name, current.text(name)))
    if password is not None:
        props.append(("RFBPassword", password.reveal()))
    return props


def _check_rfb_password(change: RedirectionChange) -> None:
    if change.rfb_password is not None and len(change.rfb_password.reveal()) != RFB_PASSWORD_LENGTH:
        raise BadInputError("the RFB (port 5900) password must be exactly 8 characters")


async def _set_kvm_settings(session: Session, change: RedirectionChange) -> None:
    _check_rfb_password(change)  # before any network
    current = await get(session, "IPS_KVMRedirectionSettingData")
    await put(session, "IPS_KVMRedirectionSettingData", kvm_settings_props(current, change))


async def change_redirection(session: Session, change: RedirectionChange) -> RedirectionStatus:
    """Apply ``change`` and return the status read back afterwards."""
    before = await read_redirection(session)
    sol = before.sol if change.sol is None else change.sol
    ider = before.ider if change.ider is None else change.ider
    kvm = before.kvm if change.kvm is None else change.kvm
    if (sol, ider) != (before.sol, before.ider) or change.kvm is not None:
        state = requested_state(sol=sol, ider=ider)
        await invoke(
            session,
            "AMT_RedirectionService",
            "RequestStateChange",
            (("RequestedState", int(state)),),
        )
        service = await get(session, "AMT_RedirectionService")
        await put(
            session,
            "AMT_RedirectionService",
            service_props(service, state, listener=sol or ider or kvm),
        )
    if change.kvm is not None and change.kvm != before.kvm:
        wanted = KvmState.ENABLED if change.kvm else KvmState.DISABLED
        await invoke(
            session,
            "CIM_KVMRedirectionSAP",
            "RequestStateChange",
            (("RequestedState", int(wanted)),),
        )
    if change.port_5900 is not None or change.rfb_password is not None:
        await _set_kvm_settings(session, change)
    return await read_redirection(session)
