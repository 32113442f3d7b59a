"""``CIM_KVMRedirectionSAP.RequestStateChange`` (reference amt.md §1.9: 2 enable, 3 disable;
EnabledState 6 is enabled but offline), driven through ``mewarden amt ... redirection``."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from mewarden.cli.main import main
from mewarden.emulate.cimbase import Context
from mewarden.emulate.dispatch import WsmanSession, handle
from mewarden.emulate.model import DeviceState
from mewarden.emulate.values import ControlMode, Identity, Timing
from tests.amt.emulated import PASSWORD, ThreadedEmulator
from tests.emulate.helpers import CIM, envelope

Run = Callable[..., tuple[int, Any, str]]
KVM_SAP = CIM + "CIM_KVMRedirectionSAP"


@pytest.fixture
def emu() -> Iterator[ThreadedEmulator]:
    with ThreadedEmulator() as running:
        yield running


@pytest.fixture
def amt(
    emu: ThreadedEmulator, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Run:
    def run(*args: str) -> tuple[int, Any, str]:
        monkeypatch.setenv("MEWARDEN_AMT_PASSWORD", PASSWORD)
        with pytest.raises(SystemExit) as info:
            main(["amt", "--host", emu.host(), "--timeout", "5", *args, "--json"])
        out, err = capsys.readouterr()
        assert "Traceback" not in err
        code = int(info.value.code or 0)
        return code, json.loads(out) if code == 0 else None, err

    return run


def test_cli_disables_and_enables_kvm_on_the_device(amt: Run, emu: ThreadedEmulator) -> None:
    assert emu.state().kvm_enabled
    code, shown, err = amt("redirection", "disable", "--kvm")
    assert code == 0, err
    assert shown["kvm"] is False
    assert emu.state().kvm_enabled is False
    assert any(e.kind == "kvm-disabled" for e in emu.state().events)
    code, shown, err = amt("redirection", "enable", "--kvm")
    assert code == 0, err
    assert shown["kvm"] is True
    assert emu.state().kvm_enabled is True
    kinds = [e.kind for e in emu.state().events]
    assert kinds.index("kvm-disabled") < kinds.index("kvm-enabled")
    code, audit, err = amt("audit")
    assert code == 0, err
    redirection = [(r["app_id"], r["event_id"]) for r in audit if r["event_id"] in (10, 11)]
    assert redirection == [("redirection-manager", 11), ("redirection-manager", 10)]


def _kvm_request(state: int) -> bytes:
    body = (
        f'<h:RequestStateChange_INPUT xmlns:h="{KVM_SAP}"><h:RequestedState>{state}'
        "</h:RequestedState></h:RequestStateChange_INPUT>"
    )
    return envelope(KVM_SAP, f"{KVM_SAP}/RequestStateChange", body)


def _device() -> DeviceState:
    identity = Identity.derive(index=0, address="127.9.0.1")
    return DeviceState.create(identity, Timing(), mode=ControlMode.CLIENT, now=0.0)


@pytest.mark.parametrize(("requested", "ret", "enabled_state"), [(3, 0, 3), (2, 0, 6), (6, 5, 6)])
def test_request_state_change_values(requested: int, ret: int, enabled_state: int) -> None:
    dev = _device()
    ctx = Context(now=1.0, wall=1_700_000_000.0)
    status, reply = handle(_kvm_request(requested), dev, WsmanSession(), ctx)
    assert status == 200
    assert f"<g:ReturnValue>{ret}</g:ReturnValue>".encode() in reply
    assert b"RequestStateChangeResponse" in reply
    status, got = handle(envelope(KVM_SAP, "http://schemas.xmlsoap.org/ws/2004/09/transfer/Get"),
                         dev, WsmanSession(), ctx)  # fmt: skip
    assert status == 200
    assert f"<g:EnabledState>{enabled_state}</g:EnabledState>".encode() in got
