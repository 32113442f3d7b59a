"""Security of ``mewarden serve``: authentication on every route, CSRF, tokens, sessions,
lockout, error bodies and headers."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.routing import APIRoute, APIWebSocketRoute
from fastapi.testclient import TestClient

from mewarden.serve.middleware import CSP
from mewarden.state import users
from tests.serve.org import PASSWORDS, Org, login, make_org

PUBLIC = {("GET", "/healthz"), ("GET", "/login"), ("POST", "/login"), ("POST", "/api/v1/login")}


@pytest.fixture
def org(tmp_path: Path) -> Org:
    return make_org(tmp_path)


def _routes(client: TestClient) -> list[tuple[str, str]]:
    from mewarden.serve import api_amt, api_fleet, api_nodes, login, pages

    found: list[tuple[str, str]] = []
    routers = (login.router, api_nodes.router, api_fleet.router, api_amt.router, pages.router)
    every = [r for router in routers for r in router.routes]
    for route in [*client.app.routes, *every]:  # type: ignore[attr-defined]
        if isinstance(route, APIRoute):
            path = re.sub(r"\{[a-z_]+\}", "n0", route.path).replace("/documents/n0", "/documents/1")
            found.extend((method, path) for method in route.methods or ())
    return found


def test_every_route_refuses_without_a_session_or_token(org: Org) -> None:
    client = org.client()
    routes = _routes(client)
    assert len(routes) > 30
    for method, path in routes:
        if (method, path) in PUBLIC:
            continue
        answer = client.request(method, path, follow_redirects=False, json={})
        if path.startswith(("/api/", "/metrics")):
            assert answer.status_code == 401, (method, path, answer.status_code)
            assert answer.json()["error"]["code"] == 5
        else:
            assert answer.status_code == 303, (method, path, answer.status_code)
            assert answer.headers["location"] == "/login"


def test_a_bad_token_of_every_kind_is_refused(org: Org) -> None:
    client = org.client()
    live_id, live = org.token("admin")
    revoked_id, revoked = org.token("admin")
    users.revoke_token(org.store, revoked_id)
    _, expiring = org.token("admin", expires=timedelta(hours=1))
    org.clock.advance(timedelta(hours=2))
    wrong_secret = live[:-4] + ("AAAA" if not live.endswith("AAAA") else "BBBB")
    for text in (revoked, expiring, wrong_secret, "mwt_nothing.here", "", live.lower()):
        answer = client.get("/api/v1/nodes", headers={"authorization": f"Bearer {text}"})
        assert answer.status_code == 401, text
    good = client.get("/api/v1/nodes", headers={"authorization": f"Bearer {live}"})
    assert good.status_code == 200
    assert users.token(org.store, live_id).last_used_at is not None  # type: ignore[union-attr]


def test_roles_viewer_reads_operator_acts_admin_steers(org: Org) -> None:
    client = org.client()

    def put(role: str, path: str, body: dict[str, object]) -> int:
        headers = {"authorization": f"Bearer {org.tokens[role]}"}
        status: int = client.put(path, json=body, headers=headers).status_code
        return status

    assert put("viewer", "/api/v1/nodes/n0/maintenance", {"on": True}) == 403
    assert put("operator", "/api/v1/nodes/n0/maintenance", {"on": True}) == 200
    assert put("operator", "/api/v1/nodes/n0/policy", {"policy": "neutralize"}) == 403
    assert put("admin", "/api/v1/nodes/n0/policy", {"policy": "neutralize"}) == 200
    viewer = {"authorization": f"Bearer {org.tokens['viewer']}"}
    power = client.post("/api/v1/nodes/n0/amt/power", json={"action": "cycle"}, headers=viewer)
    assert power.status_code == 403
    assert power.json()["error"] == {
        "code": 5,
        "type": "ForbiddenError",
        "message": "this needs the operator role",
        "retryable": False,
    }


def test_csrf_is_required_for_cookie_sessions(org: Org) -> None:
    client = org.client()
    csrf = login(client, "otto")
    body = {"on": True}
    assert client.put("/api/v1/nodes/n0/maintenance", json=body).status_code == 403
    # one character changed (never the same character, or the "wrong" token would be right)
    wrong = {"x-csrf-token": ("y" if csrf[0] == "x" else "x") + csrf[1:]}
    assert client.put("/api/v1/nodes/n0/maintenance", json=body, headers=wrong).status_code == 403
    ok = client.put("/api/v1/nodes/n0/maintenance", json=body, headers={"x-csrf-token": csrf})
    assert ok.status_code == 200
    assert org.store.node("n0").maintenance
    # a form without the hidden field is refused too
    form = client.post("/nodes/n0/maintenance", data={"on": "0"}, follow_redirects=False)
    assert form.status_code == 403
    form = client.post(
        "/nodes/n0/maintenance", data={"on": "0", "csrf_token": csrf}, follow_redirects=False
    )
    assert form.status_code == 303
    assert not org.store.node("n0").maintenance


def test_the_login_form_needs_its_double_submit_token(org: Org) -> None:
    client = org.client()
    data = {"user": "vera", "password": PASSWORDS["vera"], "csrf_token": "made-up"}
    answer = client.post("/login", data=data, follow_redirects=False)
    assert answer.headers["location"] == "/login?error=expired"
    page = client.get("/login")
    data["csrf_token"] = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    answer = client.post("/login", data=data, follow_redirects=False)
    assert answer.headers["location"] == "/"
    assert client.get("/nodes").status_code == 200


def test_another_users_session_or_csrf_token_does_not_work(org: Org) -> None:
    a, b = org.client(), org.client()
    csrf_a = login(a, "otto")
    csrf_b = login(b, "ada")
    body = {"on": True}
    # b's CSRF token with a's cookie
    crossed = a.put("/api/v1/nodes/n0/maintenance", json=body, headers={"x-csrf-token": csrf_b})
    assert crossed.status_code == 403
    # a viewer's session cannot do what an admin's can
    v = org.client()
    csrf_v = login(v, "vera")
    assert (
        v.post("/api/v1/heal/pause", json={}, headers={"x-csrf-token": csrf_v}).status_code == 403
    )
    # after logout, the old cookie is dead, even replayed
    cookie = dict(a.cookies)
    assert a.post("/api/v1/logout", headers={"x-csrf-token": csrf_a}).status_code == 200
    replay = org.client()
    replay.cookies.update(cookie)
    assert replay.get("/api/v1/nodes").status_code == 401
    # removing a user ends their sessions
    users.remove_user(org.store, "ada")
    assert b.get("/api/v1/nodes").status_code == 401


def test_sessions_expire(org: Org) -> None:
    client = org.client()
    login(client, "vera")
    assert client.get("/api/v1/nodes").status_code == 200
    org.clock.advance(timedelta(hours=9))
    assert client.get("/api/v1/nodes").status_code == 401


def test_brute_force_locks_the_account_then_unlocks(org: Org) -> None:
    client = org.client()
    for _ in range(5):
        bad = client.post("/api/v1/login", json={"user": "vera", "password": "guess-guess-1"})
        assert bad.status_code == 401
    good = {"user": "vera", "password": PASSWORDS["vera"]}
    locked = client.post("/api/v1/login", json=good)
    assert locked.status_code == 401
    assert locked.json()["error"]["message"] == bad.json()["error"]["message"]
    kinds = [e.kind for e in org.store.events()]
    assert kinds.count("login.failed") == 6
    org.clock.advance(timedelta(minutes=16))
    assert client.post("/api/v1/login", json=good).status_code == 200


def test_too_many_attempts_from_one_address_are_throttled(org: Org) -> None:
    client = org.client()
    codes = [
        client.post("/api/v1/login", json={"user": f"nobody{i}", "password": "x"}).status_code
        for i in range(25)
    ]
    assert codes[:20] == [401] * 20
    assert set(codes[20:]) == {429}


def test_no_secret_or_traceback_in_any_answer(org: Org, monkeypatch: pytest.MonkeyPatch) -> None:
    client = org.client()
    headers = {"authorization": f"Bearer {org.tokens['admin']}"}

    def explode(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("db password is hunter2-secret")

    monkeypatch.setattr("mewarden.serve.api_nodes.node_page", explode)
    answer = client.get("/api/v1/nodes", headers=headers)
    assert answer.status_code == 500
    assert answer.json()["error"]["code"] == 1
    assert "hunter2" not in answer.text
    assert "Traceback" not in answer.text
    texts = []
    for path in ("/api/v1/nodes/n0", "/api/v1/events?limit=1000", "/api/v1/fleet/status"):
        texts.append(client.get(path, headers=headers).text)
    texts.append(client.get("/api/v1/events?format=csv", headers=headers).text)
    for text in texts:
        for secret in [*PASSWORDS.values(), *(t.split(".")[1] for t in org.tokens.values())]:
            assert secret not in text
        assert "argon2" not in text
        assert "Traceback" not in text


def test_validation_errors_are_json_bad_input(org: Org) -> None:
    client = org.client()
    headers = {"authorization": f"Bearer {org.tokens['viewer']}"}
    answer = client.get("/api/v1/nodes?limit=0", headers=headers)
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == 2
    missing = client.get("/api/v1/nodes/nope", headers=headers)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == 10


@pytest.mark.parametrize("tls", [False, True])
def test_security_headers(org: Org, tls: bool) -> None:
    client = org.client(tls=tls)
    for path in ("/login", "/healthz", "/api/v1/nodes"):
        answer = client.get(path)
        assert answer.headers["content-security-policy"] == CSP
        assert "frame-ancestors 'none'" in CSP
        assert "script-src 'self'" in CSP
        assert "unsafe-inline" not in CSP
        assert answer.headers["x-frame-options"] == "DENY"
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert ("strict-transport-security" in answer.headers) is tls
    login_answer = client.post(
        "/api/v1/login", json={"user": "vera", "password": PASSWORDS["vera"]}
    )
    cookie = login_answer.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert ("Secure" in cookie) is tls
    assert cookie.startswith("__Host-mewarden=" if tls else "mewarden_session=")


def test_every_mutating_request_is_audited_with_its_actor(org: Org) -> None:
    client = org.client()
    headers = {"authorization": f"Bearer {org.tokens['operator']}"}
    token_id = org.tokens["operator"][4:16]
    client.put("/api/v1/nodes/n1/maintenance", json={"on": True}, headers=headers)
    client.put("/api/v1/nodes/n1/policy", json={"policy": "use"}, headers=headers)  # 403
    events = [e for e in org.store.events() if e.actor == f"token:{token_id}"]
    kinds = [(e.kind, e.detail.get("status")) for e in events]
    assert ("node.maintenance", None) in kinds
    assert ("api.request", 200) in kinds
    assert ("api.request", 403) in kinds


def _sockets(client: TestClient) -> list[str]:
    """Every WebSocket route of the app, through the routers it includes (FastAPI keeps an
    included router as one entry that holds the original)."""
    from starlette.routing import WebSocketRoute

    found: list[str] = []
    todo = list(client.app.routes)  # type: ignore[attr-defined]
    while todo:
        route = todo.pop()
        included = getattr(route, "original_router", None)
        if included is not None:
            todo.extend(included.routes)
        elif isinstance(route, APIWebSocketRoute | WebSocketRoute):
            found.append(route.path)
    return sorted(found)


def test_every_console_websocket_needs_session_origin_csrf_and_role(org: Org) -> None:
    from starlette.websockets import WebSocketDisconnect

    def refused(client: TestClient, url: str, headers: dict[str, str], protocols: list[str]) -> int:
        with (
            pytest.raises(WebSocketDisconnect) as closed,
            # a fresh headers dict each time: the test client adds the subprotocols to it
            client.websocket_connect(url, headers=dict(headers), subprotocols=protocols) as ws,
        ):
            ws.receive_bytes()
        code: int = closed.value.code
        return code

    anonymous = org.client()
    paths = _sockets(anonymous)
    assert paths == ["/api/v1/nodes/{name}/kvm", "/api/v1/nodes/{name}/sol"]
    operator, viewer = org.client(), org.client()
    csrf, viewer_csrf = login(operator, "otto"), login(viewer, "vera")
    wrong = ("y" if csrf[0] == "x" else "x") + csrf[1:]
    origin = {"origin": "http://127.18.0.1"}
    for path in paths:
        # the host the clients logged in on (their cookies are for it)
        url = "ws://127.18.0.1" + path.replace("{name}", "n0")
        sub = "mewarden-" + path.rsplit("/", 1)[1]
        assert refused(anonymous, url, origin, [sub, f"csrf.{csrf}"]) == 4403
        assert refused(operator, url, origin, [sub]) == 4403
        assert refused(operator, url, origin, [sub, f"csrf.{wrong}"]) == 4403
        assert refused(operator, url, origin, [sub, f"csrf.{viewer_csrf}"]) == 4403
        evil = {"origin": "http://evil.example"}
        assert refused(operator, url, evil, [sub, f"csrf.{csrf}"]) == 4403
        assert refused(operator, url, {}, [sub, f"csrf.{csrf}"]) == 4403
        assert refused(viewer, url, origin, [sub, f"csrf.{viewer_csrf}"]) == 4403
        token = {**origin, "authorization": f"Bearer {org.tokens['admin']}"}
        assert refused(anonymous, url, token, [sub]) == 4403
        # the control: all of it right opens the socket (n0's AMT address answers nothing, so
        # the console itself is refused, in JSON, after the socket was accepted)
        with operator.websocket_connect(
            url, headers=dict(origin), subprotocols=[sub, f"csrf.{csrf}"]
        ) as ws:
            assert ws.accepted_subprotocol == sub
            assert ws.receive_json()["error"]["code"] > 0
    refusals = [e for e in org.store.events(node="n0") if e.kind == "console.refused"]
    assert sorted((e.actor, e.detail["console"]) for e in refusals) == [
        ("user:otto", "kvm"),
        ("user:otto", "sol"),
    ]
