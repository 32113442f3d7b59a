"""Identity/versions and hardware inventory (reference §1.5, §1.6)."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from mewarden.amt.session import Session, enumerate_all, get
from mewarden.wsman.parse import Instance

_REALM = re.compile(r"^Digest:[0-9A-Fa-f]{32}$")
_GUID_HEX_DIGITS = 32


@dataclass(frozen=True, slots=True, kw_only=True)
class Identity:
    """Who the device is: firmware versions, names and the digest realm."""

    amt_version: str
    build_number: str
    sku: str
    versions: dict[str, str]
    host_name: str
    domain_name: str
    digest_realm: str
    realm_valid: bool
    """``Digest:`` + 32 hex digits, as RPS validates it."""


def decode_versions(items: tuple[Instance, ...]) -> dict[str, str]:
    """``CIM_SoftwareIdentity`` instances → {InstanceID: VersionString}."""
    return {item.text("InstanceID"): item.text("VersionString") for item in items}


def decode_identity(versions: dict[str, str], general: Instance) -> Identity:
    """Combine the software identities with ``AMT_GeneralSettings``."""
    realm = general.text("DigestRealm")
    return Identity(
        amt_version=versions.get("AMT", ""),
        build_number=versions.get("Build Number", ""),
        sku=versions.get("Sku", ""),
        versions=versions,
        host_name=general.text("HostName"),
        domain_name=general.text("DomainName"),
        digest_realm=realm,
        realm_valid=bool(_REALM.match(realm)),
    )


def platform_uuid(platform_guid: str) -> str | None:
    """``CIM_ComputerSystemPackage.PlatformGUID`` (32 hex digits, the SMBIOS UUID's bytes in
    wire order) as the canonical system UUID: the first three groups are little-endian on the
    wire, as in HECI GetUUID (reference amt.md §2). None when it is not 16 bytes of hex."""
    text = platform_guid.strip()
    if len(text) != _GUID_HEX_DIGITS:
        return None
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        return None
    return str(uuid.UUID(bytes_le=raw))


async def read_platform_uuid(session: Session) -> str | None:
    """Get ``CIM_ComputerSystemPackage`` and decode its PlatformGUID."""
    package = await get(session, "CIM_ComputerSystemPackage")
    return platform_uuid(package.text("PlatformGUID"))


async def identify(session: Session) -> Identity:
    """Enumerate ``CIM_SoftwareIdentity`` and Get ``AMT_GeneralSettings``."""
    versions = decode_versions(await enumerate_all(session, "CIM_SoftwareIdentity"))
    general = await get(session, "AMT_GeneralSettings")
    return decode_identity(versions, general)


@dataclass(frozen=True, slots=True, kw_only=True)
class Component:
    """One piece of hardware as AMT describes it."""

    kind: str
    manufacturer: str
    model: str
    serial_number: str
    version: str
    detail: dict[str, str]


@dataclass(frozen=True, slots=True, kw_only=True)
class Inventory:
    """System, baseboard, BIOS, CPUs, memory and storage."""

    system: Component
    baseboard: Component
    bios: Component
    processors: tuple[Component, ...]
    memory: tuple[Component, ...]
    storage: tuple[Component, ...]

    @property
    def memory_bytes(self) -> int:
        """Total installed memory (sum of ``CIM_PhysicalMemory.Capacity``)."""
        return sum(int(m.detail.get("Capacity", "0") or 0) for m in self.memory)


_DETAIL_FIELDS = {
    "processor": ("ElementName", "CurrentClockSpeed", "MaxClockSpeed", "Family", "Stepping"),
    "memory": ("BankLabel", "Capacity", "Speed", "ConfiguredMemoryClockSpeed", "PartNumber"),
    "storage": ("DeviceID", "MaxMediaSize", "ElementName"),
    "bios": ("ReleaseDate",),
}


def decode_component(kind: str, instance: Instance) -> Component:
    """Pull the common identification fields and a few kind-specific ones out of an instance."""
    detail: dict[str, str] = {}
    for name in _DETAIL_FIELDS.get(kind, ()):
        value = instance.properties.get(name)
        if isinstance(value, str):
            detail[name] = value
        elif isinstance(value, dict):  # CIM datetime: <Datetime>...</Datetime>
            detail[name] = next((v for v in value.values() if isinstance(v, str)), "")
    return Component(
        kind=kind,
        manufacturer=instance.text("Manufacturer"),
        model=instance.text("Model"),
        serial_number=instance.text("SerialNumber"),
        version=instance.text("Version"),
        detail=detail,
    )


async def read_inventory(session: Session) -> Inventory:
    """Gets of chassis, card and BIOS; enumerations of processors, memory and media."""
    chassis = await get(session, "CIM_Chassis")
    card = await get(session, "CIM_Card")
    bios = await get(session, "CIM_BIOSElement")
    cpus = await enumerate_all(session, "CIM_Processor")
    memory = await enumerate_all(session, "CIM_PhysicalMemory")
    media = await enumerate_all(session, "CIM_MediaAccessDevice")
    return Inventory(
        system=decode_component("system", chassis),
        baseboard=decode_component("baseboard", card),
        bios=decode_component("bios", bios),
        processors=tuple(decode_component("processor", c) for c in cpus),
        memory=tuple(decode_component("memory", m) for m in memory),
        storage=tuple(decode_component("storage", m) for m in media),
    )
