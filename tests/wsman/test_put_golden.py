"""Golden tests for the Put requests the operations send, built by their own prop builders.

Each case takes the instance in the corpus request as the device's current instance, runs the
operation's builder (the function ``set_boot``, ``set_consent_policy`` and
``change_redirection`` call) and compares the request with the corpus file after the documented
deviations only: read-only fields AMT rejects when echoed (reference amt.md §6 and §1.9), the
one value the operation changes, and the singleton selector ``set_boot`` sends.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping

import pytest
from lxml import etree

from mewarden.amt.boot import BOOT_SETTING_SELECTORS, BootTarget, boot_setting_props
from mewarden.amt.consent import policy_props
from mewarden.amt.redirection import (
    RedirectionChange,
    kvm_settings_props,
    requested_state,
    service_props,
)
from mewarden.secret import Secret
from mewarden.wsman import envelope as env
from mewarden.wsman.parse import Instance, parse_response
from mewarden.wsman.resources import OptInRequired, RedirectionState
from tests.wsman.golden import canonical, request_file

NS_WSMAN = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
NS_SOAP = "http://www.w3.org/2003/05/soap-envelope"


def _reference(class_name: str, contains: str = "") -> bytes:
    return request_file(class_name, "Put", contains).read_bytes()


def _current(reference: bytes) -> Instance:
    """The instance in a reference Put body, as a Get of the device would return it."""
    return parse_response(reference).first


def _edited(
    reference: bytes,
    *,
    drop: frozenset[str] = frozenset(),
    values: Mapping[str, str] | None = None,
    append: Mapping[str, str] | None = None,
    selectors: tuple[tuple[str, str], ...] = (),
) -> bytes:
    """The reference with named body properties dropped, re-valued or appended, and selectors."""
    root = etree.fromstring(reference)
    body = next(iter(root.find(f"{{{NS_SOAP}}}Body")))  # type: ignore[arg-type]
    namespace = etree.QName(body).namespace
    for child in list(body):
        name = etree.QName(child).localname
        if name in drop:
            body.remove(child)
        elif values and name in values:
            child.text = values[name]
    for name, text in (append or {}).items():
        etree.SubElement(body, f"{{{namespace}}}{name}").text = text
    if selectors:
        header = root.find(f"{{{NS_SOAP}}}Header")
        assert header is not None
        selector_set = etree.SubElement(header, f"{{{NS_WSMAN}}}SelectorSet")
        for name, value in selectors:
            element = etree.SubElement(selector_set, f"{{{NS_WSMAN}}}Selector", Name=name)
            element.text = value
    return etree.tostring(copy.deepcopy(root))


# what the TS builder's test object carries that AMT rejects in a Put (reference §6)
BOOT_READ_ONLY_IN_REFERENCE = frozenset(
    {"BIOSLastStatus", "OptionsCleared", "UEFIBootParametersArray"}
)


@pytest.mark.parametrize(
    ("target", "use_sol", "changed"),
    [
        (BootTarget.PXE, False, {}),
        (BootTarget.DISK, False, {}),
        (BootTarget.BIOS, False, {"BIOSSetup": "true"}),
        (BootTarget.IDER_CD, True, {"UseIDER": "true", "IDERBootDevice": "1", "UseSOL": "true"}),
    ],
)
def test_boot_setting_put_matches_corpus(
    target: BootTarget, use_sol: bool, changed: dict[str, str]
) -> None:
    reference = _reference("AMT_BootSettingData")
    props = boot_setting_props(_current(reference), target, use_sol=use_sol)
    built = env.put("AMT_BootSettingData", props, selectors=BOOT_SETTING_SELECTORS)
    expected = _edited(
        reference,
        drop=BOOT_READ_ONLY_IN_REFERENCE,
        values={"UEFIBootNumberOfParams": "0", **changed},
        selectors=BOOT_SETTING_SELECTORS,
    )
    assert canonical(built.body) == canonical(expected)


@pytest.mark.parametrize("required", list(OptInRequired))
@pytest.mark.parametrize("contains", ["with-an-empty-body", "optinservice-put-wsman-message.xml"])
def test_opt_in_service_put_matches_corpus(contains: str, required: OptInRequired) -> None:
    reference = _reference("IPS_OptInService", contains)
    props = policy_props(_current(reference), required)
    built = env.put("IPS_OptInService", props)
    expected = _edited(reference, append={"OptInRequired": str(int(required))})
    assert canonical(built.body) == canonical(expected)


def test_redirection_service_put_matches_corpus() -> None:
    reference = _reference("AMT_RedirectionService")
    state = requested_state(sol=False, ider=False)  # 32768, the reference's EnabledState
    assert state is RedirectionState.IDER_SOL_DISABLED
    built = env.put(
        "AMT_RedirectionService", service_props(_current(reference), state, listener=True)
    )
    assert canonical(built.body) == canonical(reference)
    both = requested_state(sol=True, ider=True)
    built = env.put(
        "AMT_RedirectionService", service_props(_current(reference), both, listener=False)
    )
    expected = _edited(reference, values={"EnabledState": "32771", "ListenerEnabled": "false"})
    assert canonical(built.body) == canonical(expected)


def test_kvm_settings_put_matches_corpus() -> None:
    reference = _reference("IPS_KVMRedirectionSettingData")
    change = RedirectionChange(port_5900=True, rfb_password=Secret("password"))
    built = env.put(
        "IPS_KVMRedirectionSettingData", kvm_settings_props(_current(reference), change)
    )
    # EnabledByMEBx is set in MEBx only; a Put that echoes it is not what the client sends
    assert canonical(built.body) == canonical(_edited(reference, drop=frozenset({"EnabledByMEBx"})))
    off = RedirectionChange(port_5900=False)
    built = env.put("IPS_KVMRedirectionSettingData", kvm_settings_props(_current(reference), off))
    expected = _edited(
        reference,
        drop=frozenset({"EnabledByMEBx", "RFBPassword"}),
        values={"Is5900PortEnabled": "false"},
    )
    assert canonical(built.body) == canonical(expected)
