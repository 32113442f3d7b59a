"""Faults and malformed replies become typed, one-line errors."""

from __future__ import annotations

import pytest

from mewarden.errors import AmtBusyError, AmtUnsupportedError, WsmanError, WsmanFaultError
from mewarden.wsman.parse import parse_response

# Shape of an AMT fault (reference §1.2: a:Code/a:Value Sender, a:Subcode/a:Value, a:Reason/a:Text)
FAULT = """<?xml version="1.0" encoding="UTF-8"?><a:Envelope
 xmlns:a="http://www.w3.org/2003/05/soap-envelope"
 xmlns:b="http://schemas.xmlsoap.org/ws/2004/08/addressing"
 xmlns:c="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><a:Header>
<b:Action>http://schemas.xmlsoap.org/ws/2004/08/addressing/fault</b:Action></a:Header>
<a:Body><a:Fault><a:Code><a:Value>a:Sender</a:Value><a:Subcode><a:Value>{sub}</a:Value>
</a:Subcode></a:Code><a:Reason><a:Text xml:lang="en-US">{reason}</a:Text></a:Reason>
<a:Detail>detail text</a:Detail></a:Fault></a:Body></a:Envelope>"""


def _fault(sub: str, reason: str) -> bytes:
    return FAULT.format(sub=sub, reason=reason).encode()


def test_fault_becomes_wsman_fault_error() -> None:
    with pytest.raises(WsmanFaultError) as info:
        parse_response(_fault("b:DestinationUnreachable", "No route can be determined."))
    assert info.value.code == "Sender"
    assert info.value.subcode == "DestinationUnreachable"
    assert "No route can be determined." in str(info.value)
    assert "\n" not in str(info.value)


def test_concurrency_fault_is_busy() -> None:
    reason = "The action could not be completed due to concurrency or locking problems."
    with pytest.raises(AmtBusyError):
        parse_response(_fault("c:Concurrency", reason))


def test_action_not_supported_is_unsupported() -> None:
    with pytest.raises(AmtUnsupportedError):
        parse_response(_fault("b:ActionNotSupported", "The action is not supported."))


@pytest.mark.parametrize(
    "data",
    [b"", b"not xml", b"<a:Envelope", b"<html><body>Log on failed</body></html>"],
)
def test_malformed_replies_raise_wsman_error(data: bytes) -> None:
    with pytest.raises(WsmanError) as info:
        parse_response(data)
    assert "\n" not in str(info.value)


def test_entities_are_not_expanded() -> None:
    evil = (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
        b'<a:Envelope xmlns:a="http://www.w3.org/2003/05/soap-envelope"><a:Body>'
        b'<g:X xmlns:g="urn:x"><g:V>&e;</g:V></g:X></a:Body></a:Envelope>'
    )
    reply = parse_response(evil)
    assert "root:" not in reply.first.text("V")
