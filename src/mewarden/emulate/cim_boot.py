"""Boot-override classes: AMT_BootSettingData, AMT_BootCapabilities, CIM_Boot* (pure).

One-shot semantics live in the model; here are the wire shapes and the Put rules (read-only
fields echoed back are rejected, as on AMT 16.1.30).
"""

from __future__ import annotations

from collections.abc import Mapping

from lxml import etree

from mewarden.emulate.cimbase import Context, Properties, int_arg, parse_field, service
from mewarden.emulate.model import DeviceState
from mewarden.emulate.soap import body_values, invalid_representation, schema_violation
from mewarden.emulate.values import BootSource, DeviceEvent

# --- boot -------------------------------------------------------------------------------------

#: Put field name -> BootSettings attribute, and the kind of value it takes.
BOOT_WRITABLE: dict[str, tuple[str, type]] = {
    "BIOSPause": ("bios_pause", bool),
    "BIOSSetup": ("bios_setup", bool),
    "BootMediaIndex": ("boot_media_index", int),
    "ConfigurationDataReset": ("configuration_data_reset", bool),
    "EnforceSecureBoot": ("enforce_secure_boot", bool),
    "FirmwareVerbosity": ("firmware_verbosity", int),
    "ForcedProgressEvents": ("forced_progress_events", bool),
    "IDERBootDevice": ("ider_boot_device", int),
    "LockKeyboard": ("lock_keyboard", bool),
    "LockPowerButton": ("lock_power_button", bool),
    "LockResetButton": ("lock_reset_button", bool),
    "LockSleepButton": ("lock_sleep_button", bool),
    "PlatformErase": ("platform_erase", bool),
    "ReflashBIOS": ("reflash_bios", bool),
    "SecureErase": ("secure_erase", bool),
    "UefiBootNumberOfParams": ("uefi_boot_number_of_params", int),
    "UseIDER": ("use_ider", bool),
    "UseSOL": ("use_sol", bool),
    "UseSafeMode": ("use_safe_mode", bool),
    "UserPasswordBypass": ("user_password_bypass", bool),
}
#: Rejected when echoed back in a Put (protocol-notes §2.5; go-wsman-messages PR #235).
BOOT_READ_ONLY = frozenset(
    {
        "WinREBootEnabled",
        "UEFILocalPBABootEnabled",
        "UEFIHTTPSBootEnabled",
        "SecureBootControlEnabled",
        "BootguardStatus",
        "OptionsCleared",
        "BIOSLastStatus",
        "UefiBootParametersArray",
    }
)


def boot_setting_data(dev: DeviceState, ctx: Context) -> list[Properties]:
    boot = dev.boot
    props: Properties = {
        "BIOSLastStatus": [2, 0],
        "BootguardStatus": 127,
        "ElementName": "Intel(r) AMT Boot Configuration Settings",
        "InstanceID": "Intel(r) AMT:BootSettingData 0",
        "OptionsCleared": boot.source is None and not boot.bios_setup and not boot.use_ider,
        "OwningEntity": "Intel(r) AMT",
        "RPEEnabled": True,
        "RSEPassword": "",
        "SecureBootControlEnabled": True,
        "UEFIHTTPSBootEnabled": True,
        "UEFILocalPBABootEnabled": True,
        "WinREBootEnabled": True,
    }
    for name, (attr, _kind) in BOOT_WRITABLE.items():
        props[name] = getattr(boot, attr)
    return [props]


def put_boot_settings(dev: DeviceState, ctx: Context, fields: Mapping[str, str]) -> None:
    echoed = sorted(BOOT_READ_ONLY & set(fields))
    if echoed:
        raise invalid_representation(f"read-only field {echoed[0]} may not be written")
    changes: dict[str, bool | int] = {}
    for name, text in fields.items():
        if name in BOOT_WRITABLE:
            attr, kind = BOOT_WRITABLE[name]
            changes[attr] = parse_field(name, text, kind)
    dev.update_boot_settings(changes)
    dev.events.append(DeviceEvent(at=ctx.now, kind="boot-settings-changed"))


def boot_capabilities(dev: DeviceState, ctx: Context) -> list[Properties]:
    flags = {
        "BIOSPause": False,
        "BIOSReflash": True,
        "BIOSSecureBoot": True,
        "BIOSSetup": True,
        "ConfigurationDataReset": False,
        "ForceCDorDVDBoot": True,
        "ForceDiagnosticBoot": False,
        "ForceHardDriveBoot": True,
        "ForceHardDriveSafeModeBoot": False,
        "ForcePXEBoot": True,
        "ForcedProgressEvents": True,
        "IDER": True,
        "KeyboardLock": True,
        "PowerButtonLock": False,
        "ResetButtonLock": False,
        "SOL": True,
        "SecureErase": False,
        "SleepButtonLock": False,
        "UserPasswordBypass": True,
        "VerbosityQuiet": False,
        "VerbosityScreenBlank": False,
        "VerbosityVerbose": False,
    }
    props: Properties = dict(flags)
    props["ElementName"] = "Intel(r) AMT: Boot Capabilities"
    props["InstanceID"] = "Intel(r) AMT:BootCapabilities 0"
    return [props]


def boot_config_setting(dev: DeviceState, ctx: Context) -> list[Properties]:
    return [
        {
            "ElementName": "Intel(r) AMT: Boot Configuration",
            "InstanceID": "Intel(r) AMT: Boot Configuration 0",
        }
    ]


_BOOT_SOURCES = (
    (BootSource.HDD, "CIM:Hard-Disk:1"),
    (BootSource.PXE, "CIM:Network:1"),
    (BootSource.CD, "CIM:CD/DVD:1"),
)


def boot_source_setting(dev: DeviceState, ctx: Context) -> list[Properties]:
    return [
        {
            "ElementName": "Intel(r) AMT: Boot Source",
            "FailThroughSupported": 2,
            "InstanceID": source.value,
            "StructuredBootString": boot_string,
        }
        for source, boot_string in _BOOT_SOURCES
    ]


def change_boot_order(dev: DeviceState, ctx: Context, body: etree._Element | None) -> Properties:
    sources = body_values(body).get("Source", []) if body is not None else []
    if not sources:
        return {"ReturnValue": dev.change_boot_order(None)}
    selectors = [
        sel
        for sel in sources[0].iter()
        if isinstance(sel.tag, str) and etree.QName(sel).localname == "Selector"
    ]
    if not selectors:
        # An empty <Source/> is a schema violation on real firmware (AMT 16.1.30).
        raise schema_violation()
    wanted = (selectors[0].text or "").strip()
    for source, _ in _BOOT_SOURCES:
        if source.value == wanted:
            return {"ReturnValue": dev.change_boot_order(source)}
    return {"ReturnValue": 4}  # InvalidReference


def boot_service(dev: DeviceState, ctx: Context) -> list[Properties]:
    return [
        service(
            "CIM_BootService",
            "Intel(r) AMT Boot Service",
            EnabledState=2,
            OperationalStatus=0,
            RequestedState=12,
        )
    ]


def set_boot_config_role(dev: DeviceState, ctx: Context, body: etree._Element | None) -> Properties:
    return {"ReturnValue": dev.set_boot_config_role(int_arg(body, "Role"))}
