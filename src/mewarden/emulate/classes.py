"""The AMT_/CIM_/IPS_ classes the emulator serves, rendered from :class:`DeviceState` (pure).

Property names, value types and enumerations follow the captures in the WS-MAN corpus
(``../shared/wsman-corpus/responses``); ``tests/emulate/test_corpus.py`` holds every class here
against its capture. Values that depend on the device come from its state; fixed values are the
ones AMT reports for a client-control-mode unit.
"""

from __future__ import annotations

from collections.abc import Mapping

from lxml import etree

from mewarden.emulate import (
    cim_boot,
    cim_config,
    cim_hostsetup,
    cim_inventory,
    cim_logs,
    cim_setup,
)
from mewarden.emulate.cimbase import (
    ClassSpec,
    Context,
    Properties,
    int_arg,
    parse_field,
    service,
)
from mewarden.emulate.model import DeviceState
from mewarden.emulate.soap import (
    Epr,
    Value,
    body_values,
    invalid_representation,
    invalid_selectors,
)
from mewarden.emulate.values import (
    KVM_DISABLED,
    KVM_ENABLED,
    KVM_ENABLED_BUT_OFFLINE,
    OPT_IN_POLICIES,
    ControlMode,
    DeviceEvent,
)

__all__ = ["CLASSES", "ClassSpec", "Context", "Properties", "put_fields", "select"]

# --- general, versions ------------------------------------------------------------------------


def _general_settings(dev: DeviceState, ctx: Context) -> list[Properties]:
    return [
        {
            "AMTNetworkEnabled": 1,
            "DDNSPeriodicUpdateInterval": 1440,
            "DDNSTTL": 900,
            "DDNSUpdateByDHCPServerEnabled": True,
            "DDNSUpdateEnabled": False,
            "DHCPSyncRequiresHostname": 1,
            "DHCPv6ConfigurationTimeout": 0,
            "DigestRealm": dev.identity.realm,
            "DomainName": "emulated.test",
            "ElementName": "Intel(r) AMT: General Settings",
            "HostName": dev.identity.hostname,
            "HostOSFQDN": f"{dev.identity.hostname}.emulated.test",
            "IdleWakeTimeout": 1,
            "InstanceID": "Intel(r) AMT: General Settings",
            "NetworkInterfaceEnabled": True,
            "PingResponseEnabled": True,
            "PowerSource": 0,
            "PreferredAddressFamily": 0,
            "PresenceNotificationInterval": 0,
            "PrivacyLevel": 0,
            "RmcpPingResponseEnabled": True,
            "SharedFQDN": True,
            "ThunderboltDockEnabled": 0,
            "WsmanOnlyMode": False,
        }
    ]


def _software_identity(dev: DeviceState, ctx: Context) -> list[Properties]:
    ident = dev.identity
    versions = [
        ("Flash", ident.amt_version),
        ("Netstack", ident.amt_version),
        ("AMTApps", ident.amt_version),
        ("AMT", ident.amt_version),
        ("Sku", ident.sku),
        ("VendorID", "8086"),
        ("Build Number", ident.build_number),
        ("Recovery Version", ident.amt_version),
        ("Recovery Build Num", ident.build_number),
        ("Legacy Mode", "False"),
        ("AMT FW Core Version", ident.amt_version),
    ]
    return [{"InstanceID": i, "IsEntity": True, "VersionString": v} for i, v in versions]


# --- power ------------------------------------------------------------------------------------

_POWER_SERVICE_EPR = Epr(
    class_name="CIM_PowerManagementService",
    selectors=(
        ("CreationClassName", "CIM_PowerManagementService"),
        ("Name", "Intel(r) AMT Power Management Service"),
        ("SystemCreationClassName", "CIM_ComputerSystem"),
        ("SystemName", "Intel(r) AMT"),
    ),
)
_MANAGEDSYSTEM_EPR = Epr(
    class_name="CIM_ComputerSystem",
    selectors=(("CreationClassName", "CIM_ComputerSystem"), ("Name", "ManagedSystem")),
)


def _associated_power(dev: DeviceState, ctx: Context) -> list[Properties]:
    dev.advance(ctx.now)
    return [
        {
            "AvailableRequestedPowerStates": [10, 8, 5, 11, 14, 12] if dev.powered else [2],
            "PowerState": int(dev.power_state),
            "ServiceProvided": _POWER_SERVICE_EPR,
            "UserOfService": _MANAGEDSYSTEM_EPR,
        }
    ]


def _power_service(dev: DeviceState, ctx: Context) -> list[Properties]:
    return [
        service(
            "CIM_PowerManagementService",
            "Intel(r) AMT Power Management Service",
            EnabledState=5,
            RequestedState=12,
        )
    ]


def _request_power(dev: DeviceState, ctx: Context, body: etree._Element | None) -> Properties:
    requested = int_arg(body, "PowerState")
    return {"ReturnValue": int(dev.request_power(requested, ctx.now))}


# --- setup, consent, redirection --------------------------------------------------------------


def _opt_in_service(dev: DeviceState, ctx: Context) -> list[Properties]:
    return [
        service(
            "IPS_OptInService",
            "Intel(r) AMT OptIn Service",
            CanModifyOptInPolicy=0 if dev.control_mode is ControlMode.CLIENT else 1,
            OptInCodeTimeout=120,
            OptInDisplayTimeout=300,
            OptInRequired=dev.opt_in_required,
            OptInState=int(dev.opt_in_state),
        )
    ]


def _put_opt_in_policy(dev: DeviceState, ctx: Context, fields: Mapping[str, str]) -> None:
    if "OptInRequired" not in fields:
        return
    value = int(parse_field("OptInRequired", fields["OptInRequired"], int))
    if value == dev.opt_in_required:
        return
    if dev.control_mode is ControlMode.CLIENT:
        raise invalid_representation("OptInRequired is read-only in client control mode")
    if value not in OPT_IN_POLICIES:
        raise invalid_representation(f"OptInRequired value {value} is not valid")
    dev.opt_in_policy = value
    dev.events.append(DeviceEvent(at=ctx.now, kind="opt-in-policy-changed", detail=str(value)))


def _start_opt_in(dev: DeviceState, ctx: Context, body: etree._Element | None) -> Properties:
    return {"ReturnValue": int(dev.start_opt_in(ctx.now))}


def _send_opt_in_code(dev: DeviceState, ctx: Context, body: etree._Element | None) -> Properties:
    code = int_arg(body, "OptInCode")
    return {"ReturnValue": int(dev.send_opt_in_code(f"{code:06d}", ctx.now))}


def _cancel_opt_in(dev: DeviceState, ctx: Context, body: etree._Element | None) -> Properties:
    return {"ReturnValue": int(dev.cancel_opt_in(ctx.now))}


def _redirection_service(dev: DeviceState, ctx: Context) -> list[Properties]:
    return [
        service(
            "AMT_RedirectionService",
            "Intel(r) AMT Redirection Service",
            EnabledState=dev.redirection_state,
            ListenerEnabled=dev.listener_enabled,
        )
    ]


def _put_redirection(dev: DeviceState, ctx: Context, fields: Mapping[str, str]) -> None:
    if "ListenerEnabled" in fields:
        dev.listener_enabled = bool(parse_field("ListenerEnabled", fields["ListenerEnabled"], bool))
    if "EnabledState" in fields:
        state = parse_field("EnabledState", fields["EnabledState"], int)
        if dev.request_redirection_state(int(state), ctx.now) != 0:
            raise invalid_representation(f"EnabledState value {state} is not valid")


def _redirection_state_change(
    dev: DeviceState, ctx: Context, body: etree._Element | None
) -> Properties:
    requested = int_arg(body, "RequestedState")
    return {"ReturnValue": dev.request_redirection_state(requested, ctx.now)}


def _kvm_sap(dev: DeviceState, ctx: Context) -> list[Properties]:
    return [
        {
            "CreationClassName": "CIM_KVMRedirectionSAP",
            "ElementName": "KVM Redirection Service Access Point",
            "EnabledState": KVM_ENABLED_BUT_OFFLINE if dev.kvm_enabled else KVM_DISABLED,
            "KVMProtocol": 4,
            "Name": "KVM Redirection Service Access Point",
            "RequestedState": KVM_ENABLED if dev.kvm_enabled else KVM_DISABLED,
            "SystemCreationClassName": "CIM_ComputerSystem",
            "SystemName": "ManagedSystem",
        }
    ]


def _kvm_state_change(dev: DeviceState, ctx: Context, body: etree._Element | None) -> Properties:
    return {"ReturnValue": dev.request_kvm_state(int_arg(body, "RequestedState"), ctx.now)}


# --- the registry -----------------------------------------------------------------------------

CLASSES: dict[str, ClassSpec] = {
    spec.name: spec
    for spec in (
        ClassSpec(name="AMT_GeneralSettings", instances=_general_settings),
        ClassSpec(name="CIM_SoftwareIdentity", instances=_software_identity),
        ClassSpec(name="CIM_AssociatedPowerManagementService", instances=_associated_power),
        ClassSpec(
            name="CIM_ServiceAvailableToElement",
            instances=_associated_power,
            item_class="CIM_AssociatedPowerManagementService",
        ),
        ClassSpec(
            name="CIM_PowerManagementService",
            instances=_power_service,
            methods={"RequestPowerStateChange": _request_power},
        ),
        ClassSpec(
            name="AMT_BootSettingData",
            instances=cim_boot.boot_setting_data,
            writable=frozenset(cim_boot.BOOT_WRITABLE) | {"RSEPassword"},  # write-only
            put=cim_boot.put_boot_settings,
        ),
        ClassSpec(name="AMT_BootCapabilities", instances=cim_boot.boot_capabilities),
        ClassSpec(
            name="CIM_BootConfigSetting",
            instances=cim_boot.boot_config_setting,
            methods={"ChangeBootOrder": cim_boot.change_boot_order},
        ),
        ClassSpec(name="CIM_BootSourceSetting", instances=cim_boot.boot_source_setting),
        ClassSpec(
            name="CIM_BootService",
            instances=cim_boot.boot_service,
            methods={"SetBootConfigRole": cim_boot.set_boot_config_role},
        ),
        ClassSpec(
            name="AMT_SetupAndConfigurationService",
            instances=cim_setup.setup_service,
            methods={
                "Unprovision": cim_setup.unprovision,
                "CommitChanges": cim_hostsetup.commit_changes,
                "SetMEBxPassword": cim_hostsetup.set_mebx_password,
            },
        ),
        ClassSpec(
            name="IPS_HostBasedSetupService",
            instances=cim_hostsetup.host_based_setup,
            methods={
                "Setup": cim_hostsetup.setup,
                "AdminSetup": cim_hostsetup.admin_setup,
                "AddNextCertInChain": cim_hostsetup.add_next_cert,
                "UpgradeClientToAdmin": cim_hostsetup.upgrade_client_to_admin,
            },
        ),
        ClassSpec(
            name="AMT_TimeSynchronizationService",
            instances=cim_setup.time_service,
            methods={
                "GetLowAccuracyTimeSynch": cim_config.low_accuracy_time,
                "SetHighAccuracyTimeSynch": cim_config.high_accuracy_time,
            },
        ),
        ClassSpec(
            name="IPS_OptInService",
            instances=_opt_in_service,
            writable=frozenset({"OptInRequired"}),  # the timeouts are fixed here
            put=_put_opt_in_policy,
            methods={
                "StartOptIn": _start_opt_in,
                "SendOptInCode": _send_opt_in_code,
                "CancelOptIn": _cancel_opt_in,
            },
        ),
        ClassSpec(
            name="AMT_RedirectionService",
            instances=_redirection_service,
            writable=frozenset({"ListenerEnabled", "EnabledState"}),
            put=_put_redirection,
            methods={"RequestStateChange": _redirection_state_change},
        ),
        ClassSpec(
            name="CIM_KVMRedirectionSAP",
            instances=_kvm_sap,
            methods={"RequestStateChange": _kvm_state_change},
        ),
        ClassSpec(
            name="IPS_KVMRedirectionSettingData",
            instances=cim_config.kvm_settings,
            writable=cim_config.KVM_WRITABLE,
            tolerated=cim_config.KVM_TOLERATED,
            put=cim_config.put_kvm_settings,
        ),
        ClassSpec(
            name="AMT_EthernetPortSettings",
            instances=cim_config.ethernet_port,
            writable=cim_config.ETHERNET_WRITABLE,
            tolerated=cim_config.ETHERNET_TOLERATED,
            put=cim_config.put_ethernet,
        ),
        ClassSpec(name="AMT_TLSSettingData", instances=cim_config.tls_settings),
        ClassSpec(
            name="AMT_AuthorizationService",
            instances=cim_config.authorization_service,
            methods={"SetAdminAclEntryEx": cim_config.set_admin_acl_entry},
        ),
        ClassSpec(name="CIM_Chassis", instances=cim_inventory.chassis),
        ClassSpec(
            name="CIM_ComputerSystemPackage", instances=cim_inventory.computer_system_package
        ),
        ClassSpec(name="CIM_Card", instances=cim_inventory.card),
        ClassSpec(name="CIM_BIOSElement", instances=cim_inventory.bios_element),
        ClassSpec(name="CIM_PhysicalMemory", instances=cim_inventory.physical_memory),
        ClassSpec(name="CIM_Processor", instances=cim_inventory.processor),
        ClassSpec(name="CIM_MediaAccessDevice", instances=cim_inventory.media_access),
        ClassSpec(
            name="AMT_MessageLog",
            instances=cim_logs.message_log,
            methods={
                "PositionToFirstRecord": cim_logs.position_first,
                "GetRecords": cim_logs.get_records,
            },
        ),
        ClassSpec(
            name="AMT_AuditLog",
            instances=cim_logs.audit_log,
            methods={"ReadRecords": cim_logs.read_audit},
        ),
    )
}


def select(instances: list[Properties], selectors: Mapping[str, str]) -> Properties:
    """The instance a Get/Put/method addresses; a bad selector is a SOAP fault."""
    if not selectors:
        return instances[0]
    for instance in instances:
        if all(str(_selector_text(instance.get(k))) == v for k, v in selectors.items()):
            return instance
    raise invalid_selectors()


def _selector_text(value: Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def put_fields(body: etree._Element | None, spec: ClassSpec) -> dict[str, str]:
    """The fields of a Put body, checked against the class (wrong class: a fault)."""
    if body is None or etree.QName(body).localname != spec.name:
        raise invalid_representation(f"the Put body must be a {spec.name} element")
    fields: dict[str, str] = {}
    for name, elements in body_values(body).items():
        fields[name] = (elements[0].text or "").strip()
    return fields
