"""A Put that changes a read-only property is rejected with ``g:InvalidRepresentation`` (as AMT
does, docs/emulator.md), for every class the emulator lets a client Put; an unchanged echo of the
instance is accepted."""

from __future__ import annotations

import pytest

from mewarden.emulate.cim_boot import BOOT_READ_ONLY
from mewarden.emulate.cimbase import Context
from mewarden.emulate.classes import CLASSES
from mewarden.emulate.dispatch import WsmanSession, handle
from mewarden.emulate.model import DeviceState
from mewarden.emulate.soap import resource_uri_of
from mewarden.emulate.values import ControlMode, Identity, Timing
from tests.emulate.helpers import TRANSFER, envelope, instance_fields, put_fields

CTX = Context(now=1.0, wall=1_700_000_000.0)
PUTTABLE = sorted(name for name, spec in CLASSES.items() if spec.put is not None)


def _device() -> DeviceState:
    identity = Identity.derive(index=1, address="127.20.0.2")
    return DeviceState.create(identity, Timing(), mode=ControlMode.ADMIN, now=0.0)


def _echo(dev: DeviceState, class_name: str) -> list[tuple[str, str]]:
    status, reply = handle(envelope(resource_uri_of(class_name), f"{TRANSFER}/Get"), dev,
                           WsmanSession(), CTX)  # fmt: skip
    assert status == 200
    skip = BOOT_READ_ONLY if class_name == "AMT_BootSettingData" else frozenset()
    return [(k, v) for k, v in instance_fields(reply) if k not in skip]


def _changed(text: str) -> str:
    if text in ("true", "false"):
        return "false" if text == "true" else "true"
    return str(int(text) + 1) if text.isdigit() else text + "x"


def _read_only(class_name: str) -> list[str]:
    fields = _echo(_device(), class_name)
    names = [k for k, _ in fields if k not in CLASSES[class_name].writable]
    return sorted(set(names))


def test_every_puttable_class_has_read_only_properties() -> None:
    assert PUTTABLE == [
        "AMT_BootSettingData",
        "AMT_EthernetPortSettings",
        "AMT_RedirectionService",
        "IPS_KVMRedirectionSettingData",
        "IPS_OptInService",
    ]
    assert all(_read_only(name) for name in PUTTABLE)


@pytest.mark.parametrize("class_name", PUTTABLE)
def test_an_unchanged_echo_is_accepted(class_name: str) -> None:
    dev = _device()
    status, reply = handle(put_fields(resource_uri_of(class_name), _echo(dev, class_name)), dev,
                           WsmanSession(), CTX)  # fmt: skip
    assert status == 200, reply.decode()
    assert b"PutResponse" in reply


@pytest.mark.parametrize(("class_name", "field"), [(c, f) for c in PUTTABLE for f in _read_only(c)])
def test_a_changed_read_only_property_is_a_fault(class_name: str, field: str) -> None:
    dev = _device()
    fields = [(k, _changed(v) if k == field else v) for k, v in _echo(dev, class_name)]
    status, reply = handle(put_fields(resource_uri_of(class_name), fields), dev,
                           WsmanSession(), CTX)  # fmt: skip
    assert status == 400
    assert b"g:InvalidRepresentation" in reply
    assert f"{field} is read-only".encode() in reply


def test_opt_in_state_cannot_be_written() -> None:
    dev = _device()
    fields = [(k, "3" if k == "OptInState" else v) for k, v in _echo(dev, "IPS_OptInService")]
    status, _ = handle(put_fields(resource_uri_of("IPS_OptInService"), fields), dev,
                       WsmanSession(), CTX)  # fmt: skip
    assert status == 400
    assert int(dev.opt_in_state) == 0
