"""The KVM console's WebSocket without a browser: mewarden's own RFB client (``mewarden.rfb``)
speaks to ``/api/v1/nodes/{name}/kvm`` through Starlette's TestClient, against an emulated AMT
device. It gets standard RFB with security type None (the AMT password stays on the server),
the node's screen pixel for pixel, and its keys reach the node; a device waiting for consent
gets a JSON refusal; each session is audited."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mewarden.emulate.screen import Screen
from mewarden.rfb.client import Connected, Rectangle, RfbClient, UpdateDone
from mewarden.rfb.messages import KeyEvent, SetEncodings, SetPixelFormat, UpdateRequest
from mewarden.rfb.pixels import RGB888
from tests.amt.emulated import PASSWORD
from tests.serve.org import Emulator, Org, attach_emulator, login, make_org

#: copied for each connection: the test client adds its headers to the dict it is given
ORIGIN = {"origin": "http://127.18.0.1"}
#: the host the org client logs in on (its cookie is for that host, not "testserver")
SOCKET = "ws://127.18.0.1/api/v1/nodes/n0/kvm"
PROTOCOLS = ["mewarden-kvm"]
RETURN = 0xFF0D


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    emu = Emulator(nodes=1)
    yield emu
    emu.stop()


@pytest.fixture
def org(tmp_path: Path, emulator: Emulator) -> Org:
    org = make_org(tmp_path, nodes=2)
    attach_emulator(org, emulator)
    return org


def _give_consent(emulator: Emulator) -> None:
    """What the person at the node and the operator do: a code shown, then confirmed."""

    def confirm() -> None:
        state = emulator.device(0).state
        state.start_opt_in(0.0)
        state.send_opt_in_code(state.opt_in_code or "", 0.0)

    emulator.call(confirm)


def _screen(emulator: Emulator) -> Any:
    return emulator.call(lambda: Screen().frame(emulator.device(0).state))


def _frame(ws: Any, rfb: RfbClient, received: bytearray) -> tuple[str, Any]:
    """Read until one complete update: the desktop name and the frame it drew."""
    frame: Any = None
    while True:
        data = ws.receive_bytes()
        received += data
        for event in rfb.receive(data):
            if isinstance(event, Connected):
                frame = np.zeros((event.init.height, event.init.width, 3), dtype=np.uint8)
                rfb.send(SetPixelFormat(pixel_format=RGB888))
                rfb.send(SetEncodings(encodings=(0,)))
                rfb.send(UpdateRequest(incremental=False, x=0, y=0, width=1024, height=768))
            elif isinstance(event, Rectangle):
                h, w = event.pixels.shape[:2]
                frame[event.y : event.y + h, event.x : event.x + w] = event.pixels
            elif isinstance(event, UpdateDone):
                return rfb.name, frame
        if out := rfb.data_to_send():
            ws.send_bytes(out)


def _apply_update(ws: Any, rfb: RfbClient, frame: Any) -> int:
    """Read one update into ``frame``; returns the bytes it took."""
    size = 0
    while True:
        data = ws.receive_bytes()
        size += len(data)
        for event in rfb.receive(data):
            if isinstance(event, Rectangle):
                h, w = event.pixels.shape[:2]
                frame[event.y : event.y + h, event.x : event.x + w] = event.pixels
            elif isinstance(event, UpdateDone):
                return size


def _wait_for(org: Org, kind: str) -> None:
    deadline = time.monotonic() + 10
    while kind not in {e.kind for e in org.store.events(node="n0")}:
        assert time.monotonic() < deadline, f"no {kind} event"
        time.sleep(0.05)


def test_the_kvm_websocket_serves_the_nodes_screen_as_plain_rfb(
    org: Org, emulator: Emulator
) -> None:
    _give_consent(emulator)
    client = org.client()
    csrf = login(client, "otto")
    rfb, received = RfbClient(), bytearray()
    with client.websocket_connect(
        SOCKET, headers=dict(ORIGIN), subprotocols=[*PROTOCOLS, f"csrf.{csrf}"]
    ) as ws:
        assert ws.accepted_subprotocol == "mewarden-kvm"
        name, frame = _frame(ws, rfb, received)
        # RFB 3.8, one security type offered: None (1); no VNC challenge, no AMT password
        assert bytes(received).startswith(b"RFB 003.008\n\x01\x01")
        assert PASSWORD.encode() not in received
        assert name.startswith("mewarden: ")
        assert frame.shape == (768, 1024, 3)
        assert (frame == _screen(emulator)).all()
        # keys go upstream to the node
        for key in [*map(ord, "root"), RETURN]:
            rfb.send(KeyEvent(down=True, key=key))
            rfb.send(KeyEvent(down=False, key=key))
        ws.send_bytes(rfb.data_to_send())
        deadline = time.monotonic() + 10
        while "login: root" not in "\n".join(emulator.call(_console_lines(emulator))):
            assert time.monotonic() < deadline, "the typed login did not reach the node"
            time.sleep(0.05)
        # incremental updates carry only what changed, and keep the copy exact
        sizes = []
        while not (frame == _screen(emulator)).all():
            assert time.monotonic() < deadline, "the screen did not follow"
            rfb.send(UpdateRequest(incremental=True, x=0, y=0, width=1024, height=768))
            ws.send_bytes(rfb.data_to_send())
            sizes.append(_apply_update(ws, rfb, frame))
        assert sizes
        assert max(sizes) < 1024 * 768 * 4 // 20  # a full 32-bit frame is 3 MB
        # leave like a browser does (the test client cancels the app once the block ends)
        ws.close(1000)
        _wait_for(org, "console.close")
    sessions = [e for e in org.store.events(node="n0") if e.kind.startswith("console.")]
    assert [(e.kind, e.actor, e.detail) for e in sessions] == [
        ("console.open", "user:otto", {"console": "kvm", "via": "web"}),
        ("console.close", "user:otto", {"console": "kvm", "via": "web"}),
    ]


def _console_lines(emulator: Emulator) -> Any:
    return lambda: list(emulator.device(0).state.console.lines())


def test_without_consent_the_kvm_websocket_answers_a_json_refusal(
    org: Org, emulator: Emulator
) -> None:
    from starlette.websockets import WebSocketDisconnect

    client = org.client()
    csrf = login(client, "otto")
    with (
        client.websocket_connect(
            SOCKET, headers=dict(ORIGIN), subprotocols=[*PROTOCOLS, f"csrf.{csrf}"]
        ) as ws,
    ):
        refusal = ws.receive_json()
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_bytes()
    assert refusal["error"]["code"] == 2
    assert "user consent" in refusal["error"]["message"]
    assert closed.value.code == 4002
    # the flow was started: the code is on the node's screen for the person there to read
    assert emulator.call(lambda: emulator.device(0).state.opt_in_code)
    events = [e for e in org.store.events(node="n0") if e.kind.startswith("console.")]
    assert [(e.kind, e.detail["console"]) for e in events] == [("console.refused", "kvm")]


def test_the_kvm_page_is_for_operators_and_its_assets_are_served_here(tmp_path: Path) -> None:
    plain = make_org(tmp_path, nodes=1)
    operator, viewer = plain.client(), plain.client()
    csrf = login(operator, "otto")
    login(viewer, "vera")
    assert 'href="/nodes/n0/kvm" id="open-kvm"' in operator.get("/nodes/n0").text
    assert "open-kvm" not in viewer.get("/nodes/n0").text
    assert viewer.get("/nodes/n0/kvm").status_code == 403
    page = operator.get("/nodes/n0/kvm")
    assert page.status_code == 200
    assert 'data-socket="/api/v1/nodes/n0/kvm"' in page.text
    assert f'data-csrf="{csrf}"' in page.text
    assert 'name="page" value="kvm"' in page.text  # the consent form comes back here
    assert '<script type="module" src="/static/kvm.js">' in page.text
    assert "unsafe-inline" not in page.headers["content-security-policy"]
    for asset in ("/static/kvm.js", "/static/vendor/novnc/core/rfb.js"):
        answer = operator.get(asset)
        assert answer.status_code == 200, asset
        assert answer.headers["content-type"].startswith("text/javascript")
    # noVNC's inflater imports pako by a relative path, which must resolve here too
    assert operator.get("/static/vendor/novnc/vendor/pako/lib/zlib/inflate.js").status_code == 200
    answer = operator.post(
        "/nodes/n0/consent",
        data={"csrf_token": csrf, "action": "code", "code": "12", "page": "kvm"},
        follow_redirects=False,
    )
    assert answer.headers["location"].startswith("/nodes/n0/kvm?")
    answer = operator.post(
        "/nodes/n0/consent",
        data={"csrf_token": csrf, "action": "code", "code": "12", "page": "//evil.example"},
        follow_redirects=False,
    )
    assert answer.headers["location"].startswith("/nodes/n0/console?")
