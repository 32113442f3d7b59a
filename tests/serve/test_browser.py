"""The web console in a real headless Chromium (Debian's, driven by Playwright through its
executable path: no browser is downloaded) against a live server and emulated AMT devices.

``MEWARDEN_SCREENSHOTS=docs/img`` also writes the screenshots used in docs/serve.md.
"""

from __future__ import annotations

import base64
import io
import os
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.serve.org import PASSWORDS, Emulator, Org, attach_emulator, make_org, running_server
from tests.support import require_tool

pytestmark = pytest.mark.system
CHROMIUM = "/usr/bin/chromium"


@pytest.fixture
def browser() -> Iterator[object]:
    require_tool("chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[Org, Emulator, str]]:
    org = make_org(tmp_path, nodes=24)
    emulator = Emulator(nodes=2)
    try:
        attach_emulator(org, emulator)
        with running_server(org.app()) as base:
            yield org, emulator, base
    finally:
        emulator.stop()


def _leave_console(page: object, org: Org) -> None:
    """Go back to the node page (leaving closes the console) and wait for the close event."""
    page.goto("/nodes/n0")  # type: ignore[attr-defined]
    deadline = time.monotonic() + 10
    while "console.close" not in {e.kind for e in org.store.events(node="n0")}:
        assert time.monotonic() < deadline
        time.sleep(0.1)


def _shot(page: object, tmp: Path, name: str) -> None:
    target = Path(os.environ.get("MEWARDEN_SCREENSHOTS") or tmp)
    target.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(target / f"serve-{name}.png"), full_page=True)  # type: ignore[attr-defined]


def _login(browser: object, base: str, user: str) -> object:
    context = browser.new_context(base_url=base, viewport={"width": 1280, "height": 860})  # type: ignore[attr-defined]
    page = context.new_page()
    page.goto("/login")
    page.fill("#user", user)
    page.fill("#password", PASSWORDS[user])
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")
    return page


def _console_errors(page: object) -> list[str]:
    """The page's JavaScript console errors, collected from now on."""
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)  # type: ignore[attr-defined]
    return errors


def test_operator_logs_in_sees_the_fleet_and_power_cycles_a_node(
    browser: object, site: tuple[Org, Emulator, str], tmp_path: Path
) -> None:
    _org, emulator, base = site
    page = _login(browser, base, "otto")
    assert page.text_content("#count-nodes") == "24"  # type: ignore[attr-defined]
    _shot(page, tmp_path, "overview")

    page.goto("/nodes?limit=25")  # type: ignore[attr-defined]
    names = page.locator("table.nodes tbody th a").all_text_contents()  # type: ignore[attr-defined]
    assert names[:3] == ["n0", "n1", "n10"]
    assert page.text_content("#node-total") == "24"  # type: ignore[attr-defined]
    _shot(page, tmp_path, "nodes")

    # a second tab follows the live event stream
    watcher = page.context.new_page()  # type: ignore[attr-defined]
    watcher.goto("/events")
    watcher.wait_for_selector("#live-events[data-live='1']")

    before = len(emulator.call(lambda: emulator.fleet.action_log))
    page.goto("/nodes/n0")  # type: ignore[attr-defined]
    page.once("dialog", lambda dialog: dialog.accept())  # type: ignore[attr-defined]
    page.click("#power-cycle")  # type: ignore[attr-defined]
    page.wait_for_selector("p.flash:has-text('power cycle: requested')")  # type: ignore[attr-defined]
    _shot(page, tmp_path, "node")

    log = emulator.call(lambda: emulator.fleet.action_log)[before:]
    assert any(r.address == emulator.device(0).address for r in log)
    live = watcher.wait_for_selector("#live-events li.new:has-text('amt.action')", timeout=10_000)
    assert live is not None
    assert "power cycle" in (live.text_content() or "")
    _shot(watcher, tmp_path, "events")


def test_viewer_sees_no_action_buttons_and_the_api_refuses(
    browser: object, site: tuple[Org, Emulator, str]
) -> None:
    _org, _emulator, base = site
    page = _login(browser, base, "vera")
    page.goto("/nodes/n0")  # type: ignore[attr-defined]
    assert page.locator("h1").text_content() == "Node n0"  # type: ignore[attr-defined]
    assert page.locator("#power-cycle").count() == 0  # type: ignore[attr-defined]
    assert page.locator("#open-console, #open-kvm").count() == 0  # type: ignore[attr-defined]
    assert page.locator("form[action$='/power']").count() == 0  # type: ignore[attr-defined]
    page.goto("/nodes")  # type: ignore[attr-defined]
    assert page.locator("input[type=checkbox]").count() == 0  # type: ignore[attr-defined]
    csrf = page.get_attribute("form.logout input[name=csrf_token]", "value")  # type: ignore[attr-defined]
    answer = page.request.post(  # type: ignore[attr-defined]
        f"{base}/api/v1/nodes/n0/amt/power",
        data={"action": "cycle"},
        headers={"x-csrf-token": csrf or ""},
    )
    assert answer.status == 403
    assert answer.json()["error"]["message"] == "this needs the operator role"


_SCREEN = """() => {
  const buffer = window.mewardenTerminal.buffer.active;
  let text = "";
  for (let i = 0; i < buffer.length; i++) text += buffer.getLine(i).translateToString(true) + "\\n";
  return text;
}"""


def test_sol_console_in_the_browser_shows_the_login_prompt(
    browser: object, site: tuple[Org, Emulator, str], tmp_path: Path
) -> None:
    org, emulator, base = site
    page = _login(browser, base, "otto")
    errors = _console_errors(page)
    page.goto("/nodes/n0")  # type: ignore[attr-defined]
    page.click("#open-console")  # type: ignore[attr-defined]
    # the emulated device asks for user consent: the code appears on its screen, typed here
    page.wait_for_selector("#console-status:has-text('user consent')")  # type: ignore[attr-defined]
    code = emulator.call(lambda: emulator.device(0).state.opt_in_code)
    page.fill("#code", f"{code:06d}" if isinstance(code, int) else str(code))  # type: ignore[attr-defined]
    page.click("button[value=code]")  # type: ignore[attr-defined]
    page.wait_for_selector("p.flash:has-text('consent code: done')")  # type: ignore[attr-defined]
    page.wait_for_selector("#terminal[data-connected='1']", timeout=15_000)  # type: ignore[attr-defined]
    page.wait_for_function(f"() => ({_SCREEN})().includes('login: ')", timeout=15_000)  # type: ignore[attr-defined]
    page.click("#terminal")  # type: ignore[attr-defined]
    page.keyboard.type("root\r")  # type: ignore[attr-defined]
    page.wait_for_function(f"() => ({_SCREEN})().includes('Password:')", timeout=15_000)  # type: ignore[attr-defined]
    _shot(page, tmp_path, "console")
    assert not [e for e in errors if "Content Security Policy" in e]
    _leave_console(page, org)
    opened = [e for e in org.store.events(node="n0") if e.kind == "console.open"]
    assert [e.actor for e in opened] == ["user:otto"]


_CONSENT_ASKED = (
    "the device asks for user consent: a code is now shown on the node's screen; send it with "
    "the form above (the console then opens)"
)
_CANVAS_PNG = "() => document.querySelector('#screen canvas').toDataURL('image/png')"


def _canvas(page: object) -> np.ndarray:
    """The noVNC canvas as RGB pixels (PNG from the page: lossless)."""
    url: str = page.evaluate(_CANVAS_PNG)  # type: ignore[attr-defined]
    png = base64.b64decode(url.split(",", 1)[1])
    return np.array(Image.open(io.BytesIO(png)).convert("RGB"))


def _screen_matches(page: object, emulator: Emulator, timeout_s: float = 15.0) -> np.ndarray:
    """Wait until the canvas equals the emulated node's framebuffer, pixel for pixel; returns
    it (the emulator's colours are 0 or 255 per channel, exact in AMT's 16-bit upstream)."""
    from mewarden.emulate.screen import Screen

    deadline = time.monotonic() + timeout_s
    while True:
        expected = emulator.call(lambda: Screen().frame(emulator.device(0).state))
        seen = _canvas(page)
        if seen.shape == expected.shape and (seen == expected).all():
            return seen
        if time.monotonic() > deadline:
            differing = (
                int((seen != expected).any(axis=-1).sum()) if seen.shape == expected.shape else -1
            )
            pytest.fail(
                f"canvas {seen.shape} differs from the node's screen {expected.shape} "
                f"in {differing} pixels"
            )
        time.sleep(0.2)


def _last_line(emulator: Emulator) -> str:
    lines: list[str] = emulator.call(lambda: list(emulator.device(0).state.console.lines()))
    return lines[-1] if lines else ""


def _open_kvm_with_consent(page: object, emulator: Emulator, base: str) -> None:
    """From the node page to a connected KVM console: the first attempt shows a code on the
    node's screen, the operator types it into the page, which comes back and connects."""
    page.goto("/nodes/n0")  # type: ignore[attr-defined]
    page.click("#open-kvm")  # type: ignore[attr-defined]
    page.wait_for_selector("#console-status:has-text('user consent')")  # type: ignore[attr-defined]
    assert page.url.endswith("/nodes/n0/kvm")  # type: ignore[attr-defined]
    code = emulator.call(lambda: emulator.device(0).state.opt_in_code)
    page.fill("#code", f"{code:06d}" if isinstance(code, int) else str(code))  # type: ignore[attr-defined]
    page.click("button[value=code]")  # type: ignore[attr-defined]
    page.wait_for_selector("p.flash:has-text('consent code: done')")  # type: ignore[attr-defined]
    assert page.url.startswith(f"{base}/nodes/n0/kvm?")  # type: ignore[attr-defined]
    page.wait_for_selector("#screen[data-connected='1']", timeout=15_000)  # type: ignore[attr-defined]


def test_kvm_console_in_the_browser_shows_the_nodes_screen(
    browser: object, site: tuple[Org, Emulator, str], tmp_path: Path
) -> None:
    org, emulator, base = site
    page = _login(browser, base, "otto")
    errors = _console_errors(page)
    _open_kvm_with_consent(page, emulator, base)
    shown = _screen_matches(page, emulator)
    assert shown.shape == (768, 1024, 3)
    assert shown.max() == 255  # the login prompt's white text, not an empty screen

    # keys typed on the canvas reach the node's console, and its screen follows
    page.click("#screen canvas")  # type: ignore[attr-defined]
    page.keyboard.type("root")  # type: ignore[attr-defined]
    page.keyboard.press("Enter")  # type: ignore[attr-defined]
    deadline = time.monotonic() + 10
    while not _last_line(emulator).startswith("Password:"):
        assert time.monotonic() < deadline, "the typed login did not reach the node"
        time.sleep(0.1)
    _screen_matches(page, emulator)
    _shot(page, tmp_path, "kvm")
    assert not [e for e in errors if "Content Security Policy" in e]

    _leave_console(page, org)
    sessions = [e for e in org.store.events(node="n0") if e.kind.startswith("console.")]
    assert [(e.kind, e.actor, e.detail) for e in sessions] == [
        ("console.refused", "user:otto", {"console": "kvm", "error": _CONSENT_ASKED}),
        ("console.open", "user:otto", {"console": "kvm", "via": "web"}),
        ("console.close", "user:otto", {"console": "kvm", "via": "web"}),
    ]
