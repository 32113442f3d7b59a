"""Values of the emulated device model: wire enums, identity, timing, events (pure).

Split out of :mod:`mewarden.emulate.model` to keep that module about behaviour; import these
names from here. Power numbers follow reference amt.md §1.3.
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass


class PowerState(enum.IntEnum):
    """``PowerState`` values as reference amt.md §1.3 names them (go-wsman-messages, by
    observed effect): 5 and 6 are power cycles, 8 and 9 power offs. DMTF's labels for 6 and 9
    are the other way round (§3.1); the emulator follows §1.3, as the client does."""

    POWER_ON = 2
    SLEEP_LIGHT = 3
    SLEEP_DEEP = 4
    POWER_CYCLE_OFF_HARD = 5
    POWER_CYCLE_OFF_SOFT = 6
    HIBERNATE = 7
    POWER_OFF_HARD = 8
    POWER_OFF_SOFT = 9
    MASTER_BUS_RESET = 10
    DIAGNOSTIC_INTERRUPT_NMI = 11
    POWER_OFF_SOFT_GRACEFUL = 12
    POWER_OFF_HARD_GRACEFUL = 13
    MASTER_BUS_RESET_GRACEFUL = 14
    POWER_CYCLE_OFF_SOFT_GRACEFUL = 15
    POWER_CYCLE_OFF_HARD_GRACEFUL = 16


class PowerReturn(enum.IntEnum):
    """``RequestPowerStateChange_OUTPUT.ReturnValue``."""

    COMPLETED = 0
    NOT_SUPPORTED = 1
    UNKNOWN = 2
    TIMEOUT = 3
    FAILED = 4
    INVALID_PARAMETER = 5
    IN_USE = 6


class ControlMode(enum.IntEnum):
    """``IPS_HostBasedSetupService.CurrentControlMode``."""

    PRE_PROVISIONING = 0
    CLIENT = 1
    ADMIN = 2


class BootSource(enum.StrEnum):
    """One-shot boot targets (``CIM_BootSourceSetting`` InstanceIDs, short names)."""

    DEFAULT = "default"
    PXE = "Intel(r) AMT: Force PXE Boot"
    HDD = "Intel(r) AMT: Force Hard-drive Boot"
    CD = "Intel(r) AMT: Force CD/DVD Boot"
    BIOS = "bios-setup"
    IDER = "ider"


class OptInState(enum.IntEnum):
    """``IPS_OptInService.OptInState``."""

    NOT_STARTED = 0
    REQUESTED = 1
    DISPLAYED = 2
    RECEIVED = 3
    IN_SESSION = 4


class OptInReturn(enum.IntEnum):
    """``IPS_OptInService`` method ReturnValue."""

    SUCCESS = 0
    INTERNAL_ERROR = 1
    INVALID_STATE = 2
    BLOCKED = 3


#: ``CIM_KVMRedirectionSAP`` RequestStateChange values (reference §1.9); EnabledState also
#: reports 6, enabled but offline (no session), as the capture shows.
KVM_ENABLED = 2
KVM_DISABLED = 3
KVM_ENABLED_BUT_OFFLINE = 6

OPT_IN_ALL = 4294967295
OPT_IN_NONE = 0
OPT_IN_KVM = 1
OPT_IN_POLICIES = frozenset({OPT_IN_NONE, OPT_IN_KVM, OPT_IN_ALL})

#: Power requests recent firmware refuses outright (AMT 16.1.30 / 19.0.5).
REFUSED_POWER_STATES = frozenset(
    {PowerState.SLEEP_LIGHT, PowerState.SLEEP_DEEP, PowerState.HIBERNATE}
)
OFF_REQUESTS = frozenset(
    {
        PowerState.POWER_OFF_HARD,
        PowerState.POWER_OFF_SOFT,
        PowerState.POWER_OFF_SOFT_GRACEFUL,
        PowerState.POWER_OFF_HARD_GRACEFUL,
    }
)
RESET_REQUESTS = frozenset(
    {
        PowerState.POWER_CYCLE_OFF_SOFT,
        PowerState.POWER_CYCLE_OFF_HARD,
        PowerState.MASTER_BUS_RESET,
        PowerState.MASTER_BUS_RESET_GRACEFUL,
        PowerState.POWER_CYCLE_OFF_SOFT_GRACEFUL,
        PowerState.POWER_CYCLE_OFF_HARD_GRACEFUL,
    }
)
GRACEFUL_REQUESTS = frozenset(
    {
        PowerState.POWER_OFF_SOFT_GRACEFUL,
        PowerState.POWER_OFF_HARD_GRACEFUL,
        PowerState.MASTER_BUS_RESET_GRACEFUL,
        PowerState.POWER_CYCLE_OFF_SOFT_GRACEFUL,
        PowerState.POWER_CYCLE_OFF_HARD_GRACEFUL,
    }
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Timing:
    """How long things take; scale these down in tests."""

    boot_time_s: float = 20.0
    shutdown_time_s: float = 2.0
    request_latency_s: float = 0.005
    slow_extra_s: float = 3.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Identity:
    """What never changes for a device: derived from the fleet seed and its index."""

    index: int
    address: str
    uuid: str
    realm: str
    mac: str
    hostname: str
    amt_version: str = "16.1.30"
    build_number: str = "2307"
    sku: str = "16392"

    @classmethod
    def derive(cls, *, index: int, address: str, seed: str = "mewarden") -> Identity:
        digest = hashlib.sha256(f"{seed}:{index}".encode()).digest()
        raw_uuid = digest[:16].hex()
        uuid = "-".join(
            (raw_uuid[:8], raw_uuid[8:12], raw_uuid[12:16], raw_uuid[16:20], raw_uuid[20:32])
        )
        realm = "Digest:" + digest[16:32].hex().upper()
        # Locally administered unicast MAC; the host shares it with AMT.
        mac_bytes = bytes([0x02, 0x4D]) + index.to_bytes(4, "big")
        mac = "-".join(f"{b:02x}" for b in mac_bytes)
        return cls(
            index=index,
            address=address,
            uuid=uuid,
            realm=realm,
            mac=mac,
            hostname=f"node{index:05d}",
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceEvent:
    """Something that happened to the device or its host (kept in the event/audit logs)."""

    at: float
    kind: str
    detail: str = ""


@dataclass(slots=True, kw_only=True)
class BootSettings:
    """The writable part of ``AMT_BootSettingData`` plus the pending one-shot source."""

    bios_setup: bool = False
    bios_pause: bool = False
    use_ider: bool = False
    use_sol: bool = False
    ider_boot_device: int = 0
    boot_media_index: int = 0
    enforce_secure_boot: bool = False
    firmware_verbosity: int = 0
    lock_keyboard: bool = False
    lock_power_button: bool = False
    lock_reset_button: bool = False
    lock_sleep_button: bool = False
    user_password_bypass: bool = False
    use_safe_mode: bool = False
    configuration_data_reset: bool = False
    reflash_bios: bool = False
    forced_progress_events: bool = False
    secure_erase: bool = False
    platform_erase: bool = False
    uefi_boot_number_of_params: int = 0
    source: BootSource | None = None
    role_applied: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class IderBootResult:
    """What the emulated BIOS found on the IDER CD (reported by the control API)."""

    bootable: bool
    volume_id: str = ""
    boot_image_sha256: str = ""
    sectors_read: int = 0
    error: str = ""
