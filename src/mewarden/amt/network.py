"""Wired ethernet settings read and set (reference §1.7).

Valid combinations (rpc-go ``wired.go`` per the reference): DHCP → DHCPEnabled, IpSyncEnabled,
not SharedStaticIp, no addresses; static → not DHCP, not IpSync, not shared, IP + mask
required; shared static (same IP as the host OS) → not DHCP, IpSync, SharedStaticIp, no
addresses. The Put is addressed with the InstanceID selector.
"""

from __future__ import annotations

import enum
import ipaddress
from dataclasses import dataclass

from mewarden.amt.session import Session, get, put
from mewarden.errors import BadInputError
from mewarden.wsman.envelope import Value
from mewarden.wsman.parse import Instance
from mewarden.wsman.resources import ETHERNET_WIRED_ID


class AddressMode(enum.StrEnum):
    """How the AMT wired interface gets its IPv4 address."""

    DHCP = "dhcp"
    STATIC = "static"
    SHARED = "shared"


@dataclass(frozen=True, slots=True, kw_only=True)
class EthernetSettings:
    """``AMT_EthernetPortSettings`` in typed form."""

    instance_id: str
    mac_address: str
    link_is_up: bool
    dhcp_enabled: bool
    ip_sync_enabled: bool
    shared_static_ip: bool
    ip_address: str
    subnet_mask: str
    default_gateway: str
    primary_dns: str
    secondary_dns: str
    link_policy: tuple[int, ...]

    @property
    def mode(self) -> AddressMode:
        """The address mode these flags amount to."""
        if self.dhcp_enabled:
            return AddressMode.DHCP
        return AddressMode.SHARED if self.shared_static_ip else AddressMode.STATIC


def decode_ethernet(instance: Instance) -> EthernetSettings:
    """Decode an ``AMT_EthernetPortSettings`` instance."""
    return EthernetSettings(
        instance_id=instance.text("InstanceID"),
        mac_address=instance.text("MACAddress"),
        link_is_up=bool(instance.boolean("LinkIsUp", False)),
        dhcp_enabled=bool(instance.boolean("DHCPEnabled", False)),
        ip_sync_enabled=bool(instance.boolean("IpSyncEnabled", False)),
        shared_static_ip=bool(instance.boolean("SharedStaticIp", False)),
        ip_address=instance.text("IPAddress"),
        subnet_mask=instance.text("SubnetMask"),
        default_gateway=instance.text("DefaultGateway"),
        primary_dns=instance.text("PrimaryDNS"),
        secondary_dns=instance.text("SecondaryDNS"),
        link_policy=instance.integers("LinkPolicy"),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class EthernetChange:
    """What the user asked for; validated by :func:`ethernet_props`."""

    mode: AddressMode
    ip_address: str = ""
    subnet_mask: str = ""
    default_gateway: str = ""
    primary_dns: str = ""
    secondary_dns: str = ""


def _check_ipv4(label: str, value: str) -> None:
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        raise BadInputError(f"{label} {value!r} is not an IPv4 address") from None


def validate_change(change: EthernetChange) -> None:
    """BadInputError for a change that could not be applied (before anything is sent)."""
    addresses = (change.ip_address, change.subnet_mask, change.default_gateway)
    if change.mode is not AddressMode.STATIC:
        if any(addresses) or change.primary_dns or change.secondary_dns:
            raise BadInputError(f"{change.mode} mode takes no addresses (they are for static)")
        return
    if not change.ip_address or not change.subnet_mask:
        raise BadInputError("static mode needs --ip and --mask")
    labelled = (
        ("--ip", change.ip_address),
        ("--mask", change.subnet_mask),
        ("--gateway", change.default_gateway),
        ("--dns", change.primary_dns),
        ("--dns2", change.secondary_dns),
    )
    for label, value in labelled:
        if value:
            _check_ipv4(label, value)


def ethernet_props(current: Instance, change: EthernetChange) -> list[tuple[str, Value]]:
    """The Put body: current writable fields with the mode flags and addresses replaced."""
    validate_change(change)
    flags: dict[str, Value] = {
        "DHCPEnabled": change.mode is AddressMode.DHCP,
        "IpSyncEnabled": change.mode is not AddressMode.STATIC,
        "SharedStaticIp": change.mode is AddressMode.SHARED,
    }
    address_fields = ("IPAddress", "SubnetMask", "DefaultGateway", "PrimaryDNS", "SecondaryDNS")
    wanted = (
        change.ip_address,
        change.subnet_mask,
        change.default_gateway,
        change.primary_dns,
        change.secondary_dns,
    )
    addresses = {k: v for k, v in zip(address_fields, wanted, strict=True) if v}
    props: list[tuple[str, Value]] = []
    for name in current.properties:
        if name in address_fields:
            continue
        if name in flags:
            props.append((name, flags.pop(name)))
        else:
            texts = current.texts(name)
            props.append((name, texts if len(texts) > 1 else current.text(name)))
    props.extend(flags.items())
    props.extend(addresses.items())
    return props


async def read_ethernet(session: Session, instance_id: str = ETHERNET_WIRED_ID) -> EthernetSettings:
    """Get the wired (or wireless) port settings."""
    return decode_ethernet(
        await get(session, "AMT_EthernetPortSettings", (("InstanceID", instance_id),))
    )


async def set_ethernet(session: Session, change: EthernetChange) -> EthernetSettings:
    """Validate, Get, Put; returns the settings AMT echoes back."""
    validate_change(change)
    selectors = (("InstanceID", ETHERNET_WIRED_ID),)
    current = await get(session, "AMT_EthernetPortSettings", selectors)
    echoed = await put(
        session, "AMT_EthernetPortSettings", ethernet_props(current, change), selectors
    )
    return decode_ethernet(echoed)
