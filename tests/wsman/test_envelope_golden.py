"""Golden tests: our request builder against Intel's request corpus (canonical XML).

Each expected request is a file from ``../shared/wsman-corpus/requests`` (Intel's TS builder
unit tests); inputs are the values stated in those tests (the file names and their bodies).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from mewarden.wsman import envelope as env
from mewarden.wsman.envelope import EndpointReference, Request
from mewarden.wsman.resources import (
    BOOT_CONFIG_SETTING_ID,
    ETHERNET_WIRED_ID,
    MANAGED_SYSTEM_SELECTORS,
    BootSource,
)
from tests.support import require_corpus, wsman_corpus_dir
from tests.wsman.golden import canonical, request_file

CONTEXT = "AC070000-0000-0000-0000-000000000000"  # the corpus README's expanded variable


def _transfer_files() -> list[tuple[str, str]]:
    root = wsman_corpus_dir() / "requests"
    found: list[tuple[str, str]] = []
    for path in sorted(root.glob("*/*.xml")) if root.is_dir() else []:
        class_name, operation, _ = path.name.split("__", 2)
        if operation in ("Get", "Enumerate", "Pull") and b"SelectorSet" not in path.read_bytes():
            found.append((class_name, operation))
    return sorted(set(found)) or [("CIM_Chassis", "Get")]


def _build_transfer(class_name: str, operation: str) -> Request:
    if operation == "Get":
        return env.get(class_name)
    if operation == "Enumerate":
        return env.enumerate_(class_name)
    return env.pull(class_name, CONTEXT)


@pytest.mark.parametrize(("class_name", "operation"), _transfer_files())
def test_transfer_requests_match_corpus(class_name: str, operation: str) -> None:
    expected = request_file(class_name, operation).read_bytes()
    assert canonical(_build_transfer(class_name, operation).body) == canonical(expected)


def test_corpus_has_the_expected_number_of_transfer_goldens() -> None:
    # guard against silently comparing nothing: the corpus holds 168 selector-free
    # Get/Enumerate/Pull goldens (57 classes, not all with all three operations)
    require_corpus()
    assert len(_transfer_files()) >= 160


def _pxe_source() -> EndpointReference:
    return EndpointReference(
        class_name="CIM_BootSourceSetting", selectors=(("InstanceID", BootSource.PXE),)
    )


METHOD_CASES: dict[str, tuple[str, str, str, Callable[[], Request]]] = {
    "ethernet-get": (
        "AMT_EthernetPortSettings",
        "Get",
        "",
        lambda: env.get("AMT_EthernetPortSettings", selectors=(("InstanceID", ETHERNET_WIRED_ID),)),
    ),
    "power-change": (
        "CIM_PowerManagementService",
        "RequestPowerStateChange",
        "",
        lambda: env.invoke(
            "CIM_PowerManagementService",
            "RequestPowerStateChange",
            (
                ("PowerState", 8),
                (
                    "ManagedElement",
                    EndpointReference(
                        class_name="CIM_ComputerSystem", selectors=MANAGED_SYSTEM_SELECTORS
                    ),
                ),
            ),
        ),
    ),
    "boot-order-pxe": (
        "CIM_BootConfigSetting",
        "ChangeBootOrder",
        "pxe",
        lambda: env.invoke(
            "CIM_BootConfigSetting", "ChangeBootOrder", (("Source", _pxe_source()),)
        ),
    ),
    "boot-order-clear": (
        "CIM_BootConfigSetting",
        "ChangeBootOrder",
        "clear",
        lambda: env.invoke("CIM_BootConfigSetting", "ChangeBootOrder"),
    ),
    "boot-role": (
        "CIM_BootService",
        "SetBootConfigRole",
        "",
        lambda: env.invoke(
            "CIM_BootService",
            "SetBootConfigRole",
            (
                (
                    "BootConfigSetting",
                    EndpointReference(
                        class_name="CIM_BootConfigSetting",
                        selectors=(("InstanceID", BOOT_CONFIG_SETTING_ID),),
                    ),
                ),
                ("Role", 1),
            ),
        ),
    ),
    "audit-read": (
        "AMT_AuditLog",
        "ReadRecords",
        "",
        lambda: env.invoke("AMT_AuditLog", "ReadRecords", (("StartIndex", 1),)),
    ),
    "event-first": (
        "AMT_MessageLog",
        "PositionToFirstRecord",
        "",
        lambda: env.invoke("AMT_MessageLog", "PositionToFirstRecord", self_closing=True),
    ),
    "event-records": (
        "AMT_MessageLog",
        "GetRecords",
        "",
        lambda: env.invoke(
            "AMT_MessageLog", "GetRecords", (("IterationIdentifier", 1), ("MaxReadRecords", 390))
        ),
    ),
    "admin-acl": (
        "AMT_AuthorizationService",
        "SetAdminAclEntryEx",
        "",
        lambda: env.invoke(
            "AMT_AuthorizationService",
            "SetAdminAclEntryEx",
            (("Username", "admin"), ("DigestPassword", "P@ssw0rd")),
        ),
    ),
    "unprovision": (
        "AMT_SetupAndConfigurationService",
        "Unprovision",
        "",
        lambda: env.invoke(
            "AMT_SetupAndConfigurationService", "Unprovision", (("ProvisioningMode", 1),)
        ),
    ),
    "redirection-state": (
        "AMT_RedirectionService",
        "RequestStateChange",
        "",
        lambda: env.invoke(
            "AMT_RedirectionService", "RequestStateChange", (("RequestedState", 32771),)
        ),
    ),
    "kvm-state": (
        "CIM_KVMRedirectionSAP",
        "RequestStateChange",
        "",
        lambda: env.invoke("CIM_KVMRedirectionSAP", "RequestStateChange", (("RequestedState", 2),)),
    ),
    "optin-start": (
        "IPS_OptInService",
        "StartOptIn",
        "",
        lambda: env.invoke("IPS_OptInService", "StartOptIn"),
    ),
    "optin-code": (
        "IPS_OptInService",
        "SendOptInCode",
        "",
        lambda: env.invoke("IPS_OptInService", "SendOptInCode", (("OptInCode", 1),)),
    ),
    "optin-cancel": (
        "IPS_OptInService",
        "CancelOptIn",
        "",
        lambda: env.invoke("IPS_OptInService", "CancelOptIn"),
    ),
    "time-get": (
        "AMT_TimeSynchronizationService",
        "GetLowAccuracyTimeSynch",
        "",
        lambda: env.invoke("AMT_TimeSynchronizationService", "GetLowAccuracyTimeSynch"),
    ),
    "time-set": (
        "AMT_TimeSynchronizationService",
        "SetHighAccuracyTimeSynch",
        "",
        lambda: env.invoke(
            "AMT_TimeSynchronizationService",
            "SetHighAccuracyTimeSynch",
            (("Ta0", 1644240911), ("Tm1", 1644240943), ("Tm2", 1644240943)),
        ),
    ),
    "ethernet-put": (
        "AMT_EthernetPortSettings",
        "Put",
        "should-create",
        lambda: env.put(
            "AMT_EthernetPortSettings",
            (
                ("InstanceID", ETHERNET_WIRED_ID),
                ("ElementName", "Intel(r) AMT Ethernet Port Settings"),
                ("SharedMAC", True),
                ("MACAddress", "a4-ae-11-1c-02-4d"),
                ("LinkIsUp", True),
                ("LinkPolicy", (1, 14, 16)),
                ("SharedStaticIp", False),
                ("SharedDynamicIP", True),
                ("IpSyncEnabled", True),
                ("DHCPEnabled", True),
                ("PhysicalConnectionType", 0),
            ),
            selectors=(("InstanceID", ETHERNET_WIRED_ID),),
        ),
    ),
    "tls-delete": (
        "AMT_TLSCredentialContext",
        "Delete",
        "",
        lambda: env.delete(
            "AMT_TLSCredentialContext",
            selectors=(("InstanceID", "Intel(r) AMT Certificate: Handle: 1"),),
        ),
    ),
    "tls-create": (
        "AMT_TLSCredentialContext",
        "Create",
        "",
        lambda: env.create(
            "AMT_TLSCredentialContext",
            (
                (
                    "ElementInContext",
                    EndpointReference(
                        class_name="AMT_PublicKeyCertificate",
                        selectors=(("InstanceID", "Intel(r) AMT Certificate: Handle 1"),),
                        address="/wsman",
                    ),
                ),
                (
                    "ElementProvidingContext",
                    EndpointReference(
                        class_name="AMT_TLSProtocolEndpointCollection",
                        selectors=(("ElementName", "TLSProtocolEndpointInstances Collection"),),
                        address="/wsman",
                    ),
                ),
            ),
        ),
    ),
}


@pytest.mark.parametrize("case", sorted(METHOD_CASES))
def test_method_and_put_requests_match_corpus(case: str) -> None:
    class_name, operation, contains, build = METHOD_CASES[case]
    expected = request_file(class_name, operation, contains).read_bytes()
    assert canonical(build().body) == canonical(expected)


def test_comparison_is_sensitive_to_a_changed_value() -> None:
    """Guard: the canonical comparison must notice a different PowerState."""
    expected = request_file("CIM_PowerManagementService", "RequestPowerStateChange").read_bytes()
    wrong = env.invoke(
        "CIM_PowerManagementService",
        "RequestPowerStateChange",
        (
            ("PowerState", 2),
            (
                "ManagedElement",
                EndpointReference(
                    class_name="CIM_ComputerSystem", selectors=MANAGED_SYSTEM_SELECTORS
                ),
            ),
        ),
    )
    assert canonical(wrong.body) != canonical(expected)


def test_text_is_escaped() -> None:
    request = env.invoke("AMT_AuthorizationService", "SetAdminAclEntryEx", (("Username", "a<&>b"),))
    assert b"a&lt;&amp;&gt;b" in request.body
    canonical(request.body)  # still well-formed


def test_absent_epr_parameter_is_omitted_not_empty() -> None:
    request = env.invoke("CIM_BootConfigSetting", "ChangeBootOrder")
    assert b"Source" not in request.body


def test_reads_are_idempotent_and_writes_are_not() -> None:
    assert env.get("CIM_Chassis").idempotent
    assert env.pull("CIM_Chassis", CONTEXT).idempotent
    assert not env.put("AMT_GeneralSettings", ()).idempotent
    assert not env.invoke("CIM_PowerManagementService", "RequestPowerStateChange").idempotent


def test_unknown_class_prefix_is_rejected() -> None:
    with pytest.raises(ValueError, match="prefix"):
        env.get("Chassis")
