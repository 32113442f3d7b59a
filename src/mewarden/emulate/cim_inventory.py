"""Hardware inventory classes: chassis, card, BIOS, memory, processor, media access (pure).

Property names, kinds and enumerations follow the AMT 12 captures in the corpus; the values are
the emulator's own (an "emulated" vendor, serial numbers derived from the device UUID).
"""

from __future__ import annotations

import uuid

from mewarden.emulate.cimbase import Context, Properties
from mewarden.emulate.model import DeviceState
from mewarden.emulate.soap import CimDateTime, Epr

VENDOR = "mewarden emulated systems"
BIOS_VERSION = "EMUL.0001.2026.1125.0930"


def _serial(dev: DeviceState, prefix: str) -> str:
    return prefix + dev.identity.uuid.replace("-", "")[:10].upper()


def chassis(dev: DeviceState, ctx: Context) -> list[Properties]:
    return [
        {
            "ChassisPackageType": 0,
            "CreationClassName": "CIM_Chassis",
            "ElementName": "Managed System Chassis",
            "Manufacturer": VENDOR,
            "Model": "EMU-NUC1",
            "OperationalStatus": 0,
            "PackageType": 3,  # chassis/frame
            "SerialNumber": _serial(dev, "C"),
            "Tag": "CIM_Chassis",
            "Version": "E10000-100",
        }
    ]


def card(dev: DeviceState, ctx: Context) -> list[Properties]:
    return [
        {
            "CanBeFRUed": True,
            "CreationClassName": "CIM_Card",
            "ElementName": "Managed System Base Board",
            "Manufacturer": VENDOR,
            "Model": "EMU-NUC1B",
            "OperationalStatus": 0,
            "PackageType": 9,  # cross connect / backplane: what AMT reports for the board
            "SerialNumber": _serial(dev, "B"),
            "Tag": "CIM_Card",
            "Version": "E10001-100",
        }
    ]


def bios_element(dev: DeviceState, ctx: Context) -> list[Properties]:
    return [
        {
            "ElementName": "Primary BIOS",
            "Manufacturer": VENDOR,
            "Name": "Primary BIOS",
            "OperationalStatus": 0,
            "PrimaryBIOS": True,
            "ReleaseDate": CimDateTime(text="2026-11-25T00:00:00Z"),
            "SoftwareElementID": BIOS_VERSION,
            "SoftwareElementState": 2,
            "TargetOperatingSystem": 66,
            "Version": BIOS_VERSION,
        }
    ]


def physical_memory(dev: DeviceState, ctx: Context) -> list[Properties]:
    return [
        {
            "BankLabel": f"BANK {bank}",
            "Capacity": 8 * 1024**3,
            "ConfiguredMemoryClockSpeed": 3200,
            "CreationClassName": "CIM_PhysicalMemory",
            "ElementName": "Managed System Memory Chip",
            "FormFactor": 13,  # SMBIOS type 17: SODIMM
            "IsSpeedInMhz": True,
            "Manufacturer": "EMU0",
            "MaxMemorySpeed": 3200,
            "MemoryType": 26,  # SMBIOS type 17: DDR4
            "PartNumber": "EMU8G-DDR4",
            "SerialNumber": _serial(dev, f"M{bank}"),
            "Speed": 0,
            "Tag": f"{bank:010d}",
        }
        for bank in (0, 2)
    ]


def processor(dev: DeviceState, ctx: Context) -> list[Properties]:
    return [
        {
            "CPUStatus": 1,  # enabled
            "CreationClassName": "CIM_Processor",
            "CurrentClockSpeed": 2400,
            "DeviceID": "CPU 0",
            "ElementName": "Managed System CPU",
            "EnabledState": 2,
            "ExternalBusClockSpeed": 100,
            "Family": 198,  # SMBIOS processor family: Intel Core i7
            "HealthState": 0,
            "MaxClockSpeed": 4700,
            "OperationalStatus": 0,
            "OtherFamilyDescription": "",
            "RequestedState": 12,
            "Role": "Central",
            "Stepping": 13,
            "SystemCreationClassName": "CIM_ComputerSystem",
            "SystemName": "ManagedSystem",
            "UpgradeMethod": 52,
        }
    ]


def media_access(dev: DeviceState, ctx: Context) -> list[Properties]:
    return [
        {
            "Capabilities": 4,  # supports writing
            "CreationClassName": "CIM_MediaAccessDevice",
            "DeviceID": "MEDIA DEV 0",
            "ElementName": "Managed System Media Access Device",
            "EnabledDefault": 2,
            "EnabledState": 0,
            "MaxMediaSize": 500_107_862,  # kilobytes: a 512 GB disk
            "OperationalStatus": 0,
            "RequestedState": 12,
            "Security": 2,
            "SystemCreationClassName": "CIM_ComputerSystem",
            "SystemName": "ManagedSystem",
        }
    ]


CHASSIS_EPR = Epr(
    class_name="CIM_Chassis",
    selectors=(("CreationClassName", "CIM_Chassis"), ("Tag", "CIM_Chassis")),
)
MANAGED_SYSTEM_EPR = Epr(
    class_name="CIM_ComputerSystem",
    selectors=(("CreationClassName", "CIM_ComputerSystem"), ("Name", "ManagedSystem")),
)


def computer_system_package(dev: DeviceState, ctx: Context) -> list[Properties]:
    """The chassis-to-system association; PlatformGUID is the SMBIOS UUID in wire byte order."""
    guid = uuid.UUID(dev.identity.uuid).bytes_le.hex().upper()
    return [{"Antecedent": CHASSIS_EPR, "Dependent": MANAGED_SYSTEM_EPR, "PlatformGUID": guid}]
