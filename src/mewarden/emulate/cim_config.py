"""Configuration classes: AMT_EthernetPortSettings (Put), IPS_KVMRedirectionSettingData (Put),
AMT_TLSSettingData, AMT_AuthorizationService (``SetAdminAclEntryEx``) and the time methods (pure).

Property names and kinds follow the corpus captures; the rules for what a Put may contain follow
the reference (amt.md §1.7 valid address combinations, §1.8 the admin digest password, §1.9 the
8-character RFB password). Read-only values a client echoes back in a Put (MAC address, link
state, ``EnabledByMEBx``) must be unchanged, else the Put is a fault (:func:`check_read_only`).
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
from collections.abc import Mapping

from lxml import etree

from mewarden.emulate.cimbase import Context, Properties, int_arg, parse_field, service
from mewarden.emulate.model import DeviceState
from mewarden.emulate.settings import (
    DHCP_DNS,
    DHCP_GATEWAY,
    DHCP_MASK,
    NetworkSettings,
)
from mewarden.emulate.soap import body_values, invalid_representation
from mewarden.emulate.values import DeviceEvent
from mewarden.secret import Secret

ETHERNET_ID = "Intel(r) AMT Ethernet Port Settings 0"
KVM_SETTINGS_ID = "Intel(r) KVM Redirection Settings"
RFB_PASSWORD_LENGTH = 8

# PT_STATUS codes (reference amt.md §1.8)
PT_NOT_PERMITTED = 16
PT_INVALID_PASSWORD = 2054

# --- AMT_EthernetPortSettings -----------------------------------------------------------------

_ADDRESS_FIELDS = ("IPAddress", "SubnetMask", "DefaultGateway", "PrimaryDNS", "SecondaryDNS")
#: LinkPolicy is writable on AMT; the emulator accepts it and keeps its own (not modelled).
ETHERNET_WRITABLE = frozenset(
    {"DHCPEnabled", "IpSyncEnabled", "SharedStaticIp", "LinkPolicy", *_ADDRESS_FIELDS}
)
ETHERNET_TOLERATED = frozenset({"VLANTag", "LinkPreference"})


def ethernet_port(dev: DeviceState, ctx: Context) -> list[Properties]:
    """With DHCP or a shared address the IPAddress shown is the one the device is reached at."""
    net = dev.network
    static = not net.ip_sync_enabled
    props: Properties = {
        "DHCPEnabled": net.dhcp_enabled,
        "DefaultGateway": net.default_gateway if static else DHCP_GATEWAY,
        "ElementName": "Intel(r) AMT Ethernet Port Settings",
        "IPAddress": net.ip_address if static else dev.identity.address,
        "InstanceID": ETHERNET_ID,
        "IpSyncEnabled": net.ip_sync_enabled,
        "LinkIsUp": True,
        "LinkPolicy": [1, 14],
        "MACAddress": dev.identity.mac,
        "PhysicalConnectionType": 0,
        "PrimaryDNS": net.primary_dns if static else DHCP_DNS[0],
        "SecondaryDNS": net.secondary_dns if static else DHCP_DNS[1],
        "SharedDynamicIP": True,
        "SharedMAC": True,
        "SharedStaticIp": net.shared_static_ip,
        "SubnetMask": net.subnet_mask if static else DHCP_MASK,
    }
    return [props]


def _ipv4(name: str, text: str) -> str:
    try:
        return str(ipaddress.IPv4Address(text))
    except ValueError:
        raise invalid_representation(f"{name} value {text!r} is not an IPv4 address") from None


def _flag(fields: Mapping[str, str], name: str, current: bool) -> bool:
    return bool(parse_field(name, fields[name], bool)) if name in fields else current


def put_ethernet(dev: DeviceState, ctx: Context, fields: Mapping[str, str]) -> None:
    """Only the three combinations of reference §1.7 are accepted (DHCP, static, shared).

    With DHCP or a shared address, address fields a client echoes back are ignored: the DHCP
    server or the host OS provides them.
    """
    net = dev.network
    dhcp = _flag(fields, "DHCPEnabled", net.dhcp_enabled)
    sync = _flag(fields, "IpSyncEnabled", net.ip_sync_enabled)
    shared = _flag(fields, "SharedStaticIp", net.shared_static_ip)
    addresses = {k: fields[k] for k in _ADDRESS_FIELDS if fields.get(k)}
    if (dhcp, sync, shared) == (False, False, False):
        if "IPAddress" not in addresses or "SubnetMask" not in addresses:
            raise invalid_representation("a static address needs IPAddress and SubnetMask")
        checked = {k: _ipv4(k, v) for k, v in addresses.items()}
        dev.network = NetworkSettings(
            dhcp_enabled=False,
            ip_sync_enabled=False,
            ip_address=checked["IPAddress"],
            subnet_mask=checked["SubnetMask"],
            default_gateway=checked.get("DefaultGateway", ""),
            primary_dns=checked.get("PrimaryDNS", ""),
            secondary_dns=checked.get("SecondaryDNS", ""),
        )
    elif (dhcp, sync, shared) in ((True, True, False), (False, True, True)):
        dev.network = NetworkSettings(
            dhcp_enabled=dhcp, ip_sync_enabled=True, shared_static_ip=shared
        )
    else:
        raise invalid_representation(
            f"DHCPEnabled={dhcp}, IpSyncEnabled={sync}, SharedStaticIp={shared} is not a valid "
            "combination"
        )
    dev.events.append(DeviceEvent(at=ctx.now, kind="network-settings-changed"))


# --- IPS_KVMRedirectionSettingData ------------------------------------------------------------

KVM_WRITABLE = frozenset(
    {"Is5900PortEnabled", "OptInPolicy", "OptInPolicyTimeout", "SessionTimeout", "RFBPassword"}
    | {"DefaultScreen"}
)
#: Builder spellings the firmware's instance does not carry (firmware: Grayscale..., DoubleBuffer
#: Enabled/Active).
KVM_TOLERATED = frozenset(
    {"GreyscalePixelFormatSupported", "DoubleBufferMode", "DoubleBufferState"}
)


def kvm_settings(dev: DeviceState, ctx: Context) -> list[Properties]:
    kvm = dev.kvm
    return [
        {
            "BackToBackFbMode": False,
            "DefaultScreen": kvm.default_screen,
            "DoubleBufferActive": False,
            "DoubleBufferEnabled": True,
            "ElementName": KVM_SETTINGS_ID,
            "EnabledByMEBx": True,
            "GrayscalePixelFormatSupported": True,
            "InitialDecimationModeForLowRes": 2,
            "InstanceID": KVM_SETTINGS_ID,
            "Is5900PortEnabled": kvm.is_5900_port_enabled,
            "OptInPolicy": kvm.opt_in_policy,
            "OptInPolicyTimeout": kvm.opt_in_policy_timeout,
            "RFBPassword": "",  # write-only
            "SessionTimeout": kvm.session_timeout,
            "ZlibControlSupported": True,
        }
    ]


def put_kvm_settings(dev: DeviceState, ctx: Context, fields: Mapping[str, str]) -> None:
    kvm = dev.kvm
    password = fields.get("RFBPassword", "")
    if password and len(password) != RFB_PASSWORD_LENGTH:
        raise invalid_representation("RFBPassword must be exactly 8 characters")
    port = _flag(fields, "Is5900PortEnabled", kvm.is_5900_port_enabled)
    opt_in = _flag(fields, "OptInPolicy", kvm.opt_in_policy)
    numbers = {}
    for name in ("OptInPolicyTimeout", "SessionTimeout", "DefaultScreen"):
        if name in fields:
            numbers[name] = int(parse_field(name, fields[name], int))
    if opt_in != kvm.opt_in_policy:
        kind = "kvm-opt-in-enabled" if opt_in else "kvm-opt-in-disabled"
        dev.events.append(DeviceEvent(at=ctx.now, kind=kind))
    if password:
        dev.events.append(DeviceEvent(at=ctx.now, kind="kvm-password-changed"))
    kvm.is_5900_port_enabled = port
    kvm.opt_in_policy = opt_in
    kvm.opt_in_policy_timeout = numbers.get("OptInPolicyTimeout", kvm.opt_in_policy_timeout)
    kvm.session_timeout = numbers.get("SessionTimeout", kvm.session_timeout)
    kvm.default_screen = numbers.get("DefaultScreen", kvm.default_screen)
    kvm.rfb_password_set = kvm.rfb_password_set or bool(password)
    if password:
        kvm.rfb_password = Secret(password)
    dev.events.append(DeviceEvent(at=ctx.now, kind="kvm-settings-changed"))


# --- AMT_TLSSettingData -----------------------------------------------------------------------


def tls_settings(dev: DeviceState, ctx: Context) -> list[Properties]:
    """TLS not configured through WS-MAN (the emulator's 16993 listener is a fleet option)."""
    return [
        {
            "AcceptNonSecureConnections": remote == "LMS",
            "ElementName": f"Intel(r) AMT {remote} TLS Settings",
            "Enabled": False,
            "InstanceID": f"Intel(r) AMT {remote} TLS Settings",
            "MutualAuthentication": False,
        }
        for remote in ("802.3", "LMS")
    ]


# --- AMT_AuthorizationService -----------------------------------------------------------------


def authorization_service(dev: DeviceState, ctx: Context) -> list[Properties]:
    return [
        service(
            "AMT_AuthorizationService",
            "Intel(r) AMT Authorization Service",
            AllowHttpQopAuthOnly=1,
            EnabledState=5,
            RequestedState=12,
        )
    ]


def _text_arg(body: etree._Element | None, name: str) -> str:
    values = body_values(body).get(name) if body is not None else None
    return (values[0].text or "").strip() if values else ""


def set_admin_acl_entry(dev: DeviceState, ctx: Context, body: etree._Element | None) -> Properties:
    """DigestPassword = base64 of the raw MD5("admin:" + realm + ":" + password) (§1.8).

    Renaming the admin account is not emulated (PT_STATUS_NOT_PERMITTED).
    """
    if _text_arg(body, "Username") != "admin":
        return {"ReturnValue": PT_NOT_PERMITTED}
    try:
        digest = base64.b64decode(_text_arg(body, "DigestPassword"), validate=True)
    except (binascii.Error, ValueError):
        digest = b""
    if len(digest) != 16:  # an MD5 digest
        return {"ReturnValue": PT_INVALID_PASSWORD}
    dev.admin_ha1 = digest.hex()
    dev.events.append(DeviceEvent(at=ctx.now, kind="admin-password-changed"))
    return {"ReturnValue": 0}


# --- AMT_TimeSynchronizationService -----------------------------------------------------------


def amt_clock(dev: DeviceState, ctx: Context) -> int:
    """The device's clock: the wall clock plus whatever the last sync set."""
    return int(ctx.wall) + dev.clock_offset_s


def low_accuracy_time(dev: DeviceState, ctx: Context, body: etree._Element | None) -> Properties:
    return {"Ta0": amt_clock(dev, ctx), "ReturnValue": 0}


def high_accuracy_time(dev: DeviceState, ctx: Context, body: etree._Element | None) -> Properties:
    """``SetHighAccuracyTimeSynch(Ta0, Tm1, Tm2)``: the clock takes the host's Tm1."""
    for name in ("Ta0", "Tm1", "Tm2"):
        if int_arg(body, name) < 0:
            raise invalid_representation(f"{name} must not be negative")
    dev.clock_offset_s = int_arg(body, "Tm1") - int(ctx.wall)
    dev.events.append(DeviceEvent(at=ctx.now, kind="time-set"))
    return {"ReturnValue": 0}
