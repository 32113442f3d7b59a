"""Platform UUID and the user-consent policy write: pure decoding against the corpus."""

from __future__ import annotations

import uuid

import pytest

from mewarden.amt.consent import decode_consent, policy_props
from mewarden.amt.inventory import platform_uuid
from mewarden.wsman.parse import parse_response
from mewarden.wsman.resources import OptInRequired
from tests.support import require_corpus


def test_platform_guid_from_the_corpus_is_the_smbios_uuid() -> None:
    path = require_corpus() / "responses/cim/computer/systempackage/get.xml"
    package = parse_response(path.read_bytes()).first
    wire = package.text("PlatformGUID")
    decoded = platform_uuid(wire)
    assert decoded is not None
    raw = bytes.fromhex(wire)
    # the first three groups are little-endian on the wire, the last two as they are
    swapped = raw[3::-1] + raw[5:3:-1] + raw[7:5:-1] + raw[8:]
    assert uuid.UUID(decoded).bytes == swapped
    assert decoded == "55e3ae13-bfd2-61bb-17a0-88aedd7037ea"


@pytest.mark.parametrize("bad", ["", "13AEE355", "Z" * 32, "13AEE355D2BFBB6117A088AEDD7037EA00"])
def test_platform_guid_that_is_not_16_bytes_of_hex_is_unknown(bad: str) -> None:
    assert platform_uuid(bad) is None


def test_consent_put_body_changes_only_opt_in_required() -> None:
    path = require_corpus() / "responses/ips/optin/get.xml"
    current = parse_response(path.read_bytes()).first
    before = decode_consent(current)
    body = dict(policy_props(current, OptInRequired.KVM))
    assert body["OptInRequired"] == int(OptInRequired.KVM)
    for name in current.properties:
        if name != "OptInRequired":
            assert body[name] == current.text(name)
    assert before.required != OptInRequired.KVM  # the change is a real one
