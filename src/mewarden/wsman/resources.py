"""Every WS-MAN wire constant mewarden uses: namespaces, actions, resource URIs, InstanceIDs, enums.

Facts come from ``../shared/reference/amt.md`` (§1.2-§1.11, which cites Intel's Device
Management Toolkit sources); numbers are wire values and keep their CIM/AMT names.
"""

from __future__ import annotations

import enum
from typing import Final

# --- namespaces -------------------------------------------------------------------------------

NS_SOAP: Final = "http://www.w3.org/2003/05/soap-envelope"
NS_ADDRESSING: Final = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
NS_WSMAN: Final = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
NS_ENUMERATION: Final = "http://schemas.xmlsoap.org/ws/2004/09/enumeration"
NS_XSI: Final = "http://www.w3.org/2001/XMLSchema-instance"
NS_XSD: Final = "http://www.w3.org/2001/XMLSchema"

CIM_BASE: Final = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/"
AMT_BASE: Final = "http://intel.com/wbem/wscim/1/amt-schema/1/"
IPS_BASE: Final = "http://intel.com/wbem/wscim/1/ips-schema/1/"

ANONYMOUS: Final = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"
WSMAN_PATH: Final = "/wsman"
OPERATION_TIMEOUT: Final = "PT60S"
PULL_MAX_ELEMENTS: Final = 999
PULL_MAX_CHARACTERS: Final = 99999

# --- actions ----------------------------------------------------------------------------------

_TRANSFER: Final = "http://schemas.xmlsoap.org/ws/2004/09/transfer/"
_ENUMERATION: Final = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/"


class Action(enum.StrEnum):
    """WS-Transfer and WS-Enumeration actions (methods use ``<ResourceURI>/<Method>``)."""

    GET = _TRANSFER + "Get"
    PUT = _TRANSFER + "Put"
    CREATE = _TRANSFER + "Create"
    DELETE = _TRANSFER + "Delete"
    ENUMERATE = _ENUMERATION + "Enumerate"
    PULL = _ENUMERATION + "Pull"


# --- ports ------------------------------------------------------------------------------------

PORT_HTTP: Final = 16992
PORT_TLS: Final = 16993


# --- resource URIs ----------------------------------------------------------------------------


def resource_uri(class_name: str) -> str:
    """The resource URI of a CIM_/AMT_/IPS_ class name."""
    prefix = class_name.split("_", 1)[0]
    bases = {"CIM": CIM_BASE, "AMT": AMT_BASE, "IPS": IPS_BASE}
    if prefix not in bases or "_" not in class_name:
        raise ValueError(f"unknown WS-MAN class prefix in {class_name!r} (want CIM_, AMT_, IPS_)")
    return bases[prefix] + class_name


class_names: Final = (
    "AMT_AuditLog",
    "AMT_AuthorizationService",
    "AMT_BootCapabilities",
    "AMT_BootSettingData",
    "AMT_EthernetPortSettings",
    "AMT_GeneralSettings",
    "AMT_MessageLog",
    "AMT_RedirectionService",
    "AMT_SetupAndConfigurationService",
    "AMT_TLSSettingData",
    "AMT_TimeSynchronizationService",
    "CIM_AssociatedPowerManagementService",
    "CIM_BIOSElement",
    "CIM_BootConfigSetting",
    "CIM_BootService",
    "CIM_BootSourceSetting",
    "CIM_Card",
    "CIM_Chassis",
    "CIM_Chip",
    "CIM_ComputerSystem",
    "CIM_KVMRedirectionSAP",
    "CIM_MediaAccessDevice",
    "CIM_PhysicalMemory",
    "CIM_PhysicalPackage",
    "CIM_PowerManagementService",
    "CIM_Processor",
    "CIM_SoftwareIdentity",
    "IPS_KVMRedirectionSettingData",
    "IPS_OptInService",
)
"""Classes the operation modules use (any CIM_/AMT_/IPS_ name works with :func:`resource_uri`)."""


# --- InstanceIDs and selectors ----------------------------------------------------------------

BOOT_SETTING_DATA_ID: Final = "Intel(r) AMT:BootSettingData 0"
BOOT_CONFIG_SETTING_ID: Final = "Intel(r) AMT: Boot Configuration 0"
ETHERNET_WIRED_ID: Final = "Intel(r) AMT Ethernet Port Settings 0"
ETHERNET_WIRELESS_ID: Final = "Intel(r) AMT Ethernet Port Settings 1"
TLS_REMOTE_ID: Final = "Intel(r) AMT 802.3 TLS Settings"
TLS_LOCAL_ID: Final = "Intel(r) AMT LMS TLS Settings"
MANAGED_SYSTEM_SELECTORS: Final = (
    ("CreationClassName", "CIM_ComputerSystem"),
    ("Name", "ManagedSystem"),
)


class BootSource(enum.StrEnum):
    """``CIM_BootSourceSetting`` InstanceIDs (reference §1.4)."""

    HARD_DRIVE = "Intel(r) AMT: Force Hard-drive Boot"
    CD_DVD = "Intel(r) AMT: Force CD/DVD Boot"
    PXE = "Intel(r) AMT: Force PXE Boot"
    HTTPS = "Intel(r) AMT: Force OCR UEFI HTTPS Boot"


# --- enums ------------------------------------------------------------------------------------


class PowerState(enum.IntEnum):
    """CIM PowerState values (reference §1.3); names follow the DMTF/go-wsman names."""

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


class PowerReturnValue(enum.IntEnum):
    """``RequestPowerStateChange`` ReturnValue (reference §1.3)."""

    COMPLETED = 0
    NOT_SUPPORTED = 1
    UNKNOWN = 2
    TIMEOUT = 3
    FAILED = 4
    INVALID_PARAMETER = 5
    IN_USE = 6
    JOB_STARTED = 4096
    INVALID_STATE_TRANSITION = 4097
    TIMEOUT_PARAM_NOT_SUPPORTED = 4098
    BUSY = 4099


class BootReturnValue(enum.IntEnum):
    """``ChangeBootOrder`` / ``SetBootConfigRole`` ReturnValue (reference §1.4)."""

    OK = 0
    NOT_SUPPORTED = 1
    UNKNOWN = 2
    BUSY = 3
    INVALID_REFERENCE = 4
    INVALID_PARAMETER = 5
    ACCESS_DENIED = 6


class BootConfigRole(enum.IntEnum):
    """``SetBootConfigRole`` Role: 1 is IsNextSingleUse (one-shot)."""

    IS_NEXT = 0
    IS_NEXT_SINGLE_USE = 1


class IderBootDevice(enum.IntEnum):
    """``AMT_BootSettingData.IDERBootDevice``."""

    FLOPPY = 0
    CD_ROM = 1


class RedirectionState(enum.IntEnum):
    """``AMT_RedirectionService.EnabledState`` (reference §1.9)."""

    IDER_SOL_DISABLED = 32768
    IDER_ENABLED = 32769
    SOL_ENABLED = 32770
    IDER_SOL_ENABLED = 32771


class KvmState(enum.IntEnum):
    """``CIM_KVMRedirectionSAP`` EnabledState / RequestedState (reference §1.9)."""

    ENABLED = 2
    DISABLED = 3
    ENABLED_BUT_OFFLINE = 6


class OptInRequired(enum.IntEnum):
    """``IPS_OptInService.OptInRequired`` (reference §1.9)."""

    NONE = 0
    KVM = 1
    ALL = 4294967295


class OptInState(enum.IntEnum):
    """``IPS_OptInService.OptInState`` (reference §1.9)."""

    NOT_STARTED = 0
    REQUESTED = 1
    DISPLAYED = 2
    RECEIVED = 3
    IN_SESSION = 4


class OptInReturnValue(enum.IntEnum):
    """``StartOptIn`` / ``SendOptInCode`` / ``CancelOptIn`` ReturnValue (reference §1.9)."""

    OK = 0
    INTERNAL_ERROR = 1
    INVALID_STATE = 2
    BLOCKED = 3
    FAILED_FFS = 4


class PtStatus(enum.IntEnum):
    """AMT PT_STATUS codes returned by authorization and setup methods (reference §1.8, §1.11)."""

    SUCCESS = 0
    INTERNAL_ERROR = 1
    INVALID_NAME = 12
    NOT_PERMITTED = 16
    MAX_LIMIT_REACHED = 23
    INVALID_INDEX = 35
    INVALID_PARAMETER = 36
    FLASH_WRITE_LIMIT_EXCEEDED = 38
    INVALID_HANDLE = 2053
    INVALID_PASSWORD = 2054
    INVALID_REALM = 2055
    DATA_MISSING = 2057
    DUPLICATE = 2058
    BLOCKING_COMPONENT = 2076


class ProvisioningMode(enum.IntEnum):
    """``AMT_SetupAndConfigurationService.ProvisioningMode`` (reference §1.11)."""

    ADMIN_CONTROL = 1
    CLIENT_CONTROL = 4


class ProvisioningState(enum.IntEnum):
    """``AMT_SetupAndConfigurationService.ProvisioningState`` (reference §1.11)."""

    PRE = 0
    IN = 1
    POST = 2


class LinkPolicy(enum.IntFlag):
    """``AMT_EthernetPortSettings.LinkPolicy`` bits (reference §1.7)."""

    S0_AC = 1
    SX_AC = 14
    S0_DC = 16
    SX_DC = 224


class AuditApp(enum.IntEnum):
    """Audit-log application IDs (reference §1.6)."""

    SECURITY_ADMIN = 16
    REMOTE_CONTROL = 17
    REDIRECTION_MANAGER = 18
    FIRMWARE_UPDATE_MANAGER = 19
    SECURITY_AUDIT_LOG = 20
    NETWORK_TIME = 21
    NETWORK_ADMINISTRATION = 22
    STORAGE_ADMINISTRATION = 23
    EVENT_MANAGER = 24


class AuditInitiator(enum.IntEnum):
    """Audit-log record InitiatorType (reference §1.6)."""

    HTTP_DIGEST = 0
    KERBEROS = 1
    LOCAL = 2
    KVM_DEFAULT_PORT = 3
