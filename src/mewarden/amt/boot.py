"""One-shot boot override (PXE, disk, CD/DVD, BIOS setup, IDER CD/floppy), reference §1.4.

The sequence is console's ``SetBootOptions`` as the reference describes it:

1. Get ``AMT_BootSettingData``;
2. ``ChangeBootOrder`` with **no** Source (clears the previous order; an empty ``<Source/>``
   is a schema fault on AMT 16, so the element is omitted);
3. Put ``AMT_BootSettingData`` with BIOSSetup/UseIDER/IDERBootDevice/UseSOL set and the
   read-only fields stripped (AMT rejects a Put that echoes them, §6);
4. ``SetBootConfigRole`` Role 1 (IsNextSingleUse: one-shot);
5. ``ChangeBootOrder`` with Source = the boot source EPR (PXE, disk, CD; none for BIOS/IDER);
6. ``RequestPowerStateChange`` 10 (reset) when the host is on, 2 (power on) when it is off
   (a reset of a host that is off answers ReturnValue 2).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from mewarden.amt import power
from mewarden.amt.session import Session, get, invoke, put
from mewarden.wsman.envelope import EndpointReference, Properties, Value
from mewarden.wsman.parse import Instance
from mewarden.wsman.resources import (
    BOOT_CONFIG_SETTING_ID,
    BOOT_SETTING_DATA_ID,
    BootConfigRole,
    BootReturnValue,
    BootSource,
    IderBootDevice,
    PowerState,
)


class BootTarget(enum.StrEnum):
    """Where the next boot goes."""

    PXE = "pxe"
    DISK = "disk"
    CD = "cd"
    BIOS = "bios"
    IDER_CD = "ider-cd"
    IDER_FLOPPY = "ider-floppy"


_SOURCES = {
    BootTarget.PXE: BootSource.PXE,
    BootTarget.DISK: BootSource.HARD_DRIVE,
    BootTarget.CD: BootSource.CD_DVD,
}
READ_ONLY_FIELDS = frozenset(
    {
        "WinREBootEnabled",
        "UEFILocalPBABootEnabled",
        "UEFIHTTPSBootEnabled",
        "SecureBootControlEnabled",
        "BootguardStatus",
        "OptionsCleared",
        "BIOSLastStatus",
        "UefiBootParametersArray",
        "RPEEnabled",
        "PlatformErase",
    }
)
"""Fields AMT refuses to see echoed in a Put (reference §6; the last two are also read-only
capability flags on the captured AMT 12 unit)."""
BOOT_SETTING_SELECTORS = (("InstanceID", BOOT_SETTING_DATA_ID),)
"""How :func:`set_boot` addresses the singleton (Intel's builders omit the selector; AMT
accepts both forms)."""
_READ_ONLY_KEYS = frozenset(name.lower() for name in READ_ONLY_FIELDS)
_BUSY = frozenset({BootReturnValue.BUSY})


@dataclass(frozen=True, slots=True, kw_only=True)
class BootPlan:
    """What :func:`set_boot` did, for reports."""

    target: BootTarget
    source: BootSource | None
    use_sol: bool
    power_state: PowerState | None


def boot_setting_props(current: Instance, target: BootTarget, *, use_sol: bool) -> Properties:
    """The ``AMT_BootSettingData`` Put body: current values, read-only fields dropped, ours set.

    CIM property names are case-insensitive (DSP0004) and spellings differ between firmware
    and toolkits (``UefiBootNumberOfParams`` / ``UEFIBootNumberOfParams``), so names are matched
    without case and sent as the device spelled them.
    """
    ours: dict[str, tuple[str, Value]] = {
        name.lower(): (name, value)
        for name, value in (
            ("BIOSSetup", target is BootTarget.BIOS),
            ("UseIDER", target in (BootTarget.IDER_CD, BootTarget.IDER_FLOPPY)),
            ("IDERBootDevice", int(_ider_device(target))),
            ("UseSOL", use_sol),
            ("BootMediaIndex", 0),
            ("LockKeyboard", False),
            ("LockPowerButton", False),
            ("LockResetButton", False),
            ("LockSleepButton", False),
            ("UefiBootNumberOfParams", 0),
        )
    }
    props: list[tuple[str, Value]] = []
    for name in current.properties:
        key = name.lower()
        if key in _READ_ONLY_KEYS:
            continue
        if key in ours:
            props.append((name, ours.pop(key)[1]))
            continue
        texts = current.texts(name)
        props.append((name, texts if len(texts) > 1 else current.text(name)))
    props.extend(ours.values())
    if not any(name.lower() == "instanceid" for name, _ in props):
        props.insert(0, ("InstanceID", BOOT_SETTING_DATA_ID))
    return props


def _ider_device(target: BootTarget) -> IderBootDevice:
    return IderBootDevice.CD_ROM if target is BootTarget.IDER_CD else IderBootDevice.FLOPPY


def _boot_config_epr() -> EndpointReference:
    return EndpointReference(
        class_name="CIM_BootConfigSetting", selectors=(("InstanceID", BOOT_CONFIG_SETTING_ID),)
    )


async def _change_boot_order(session: Session, source: BootSource | None) -> None:
    params: Properties = ()
    if source is not None:
        epr = EndpointReference(
            class_name="CIM_BootSourceSetting", selectors=(("InstanceID", source.value),)
        )
        params = (("Source", epr),)
    await invoke(session, "CIM_BootConfigSetting", "ChangeBootOrder", params, busy_values=_BUSY)


async def set_boot(
    session: Session, target: BootTarget, *, use_sol: bool = False, reset: bool = True
) -> BootPlan:
    """Run the six-step one-shot override; ``reset=False`` stops before the power change."""
    current = await get(session, "AMT_BootSettingData", BOOT_SETTING_SELECTORS)
    await _change_boot_order(session, None)
    props = boot_setting_props(current, target, use_sol=use_sol)
    await put(session, "AMT_BootSettingData", props, BOOT_SETTING_SELECTORS)
    await invoke(
        session,
        "CIM_BootService",
        "SetBootConfigRole",
        (
            ("BootConfigSetting", _boot_config_epr()),
            ("Role", int(BootConfigRole.IS_NEXT_SINGLE_USE)),
        ),
        busy_values=_BUSY,
    )
    source = _SOURCES.get(target)
    if source is not None:
        await _change_boot_order(session, source)
    state: PowerState | None = None
    if reset:
        status = await power.read_power(session)
        state = PowerState.MASTER_BUS_RESET if status.is_on else PowerState.POWER_ON
        await power.change_power(session, state)
    return BootPlan(target=target, source=source, use_sol=use_sol, power_state=state)
