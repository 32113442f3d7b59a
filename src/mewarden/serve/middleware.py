"""Pure ASGI middleware: security headers on every response, an audit event for every mutating
request (naming the user or token), and request metrics."""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mewarden.serve.auth import UNSAFE
from mewarden.serve.context import ServeContext

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)
_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]
HSTS = (b"strict-transport-security", b"max-age=63072000; includeSubDomains")


class ServeMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "mewarden_serve_requests",
            "HTTP requests answered, by method and status class.",
            ["method", "status"],
            registry=self.registry,
        )
        self.seconds = Histogram(
            "mewarden_serve_request_seconds",
            "Time to the first response byte.",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2, 5),
            registry=self.registry,
        )
        self.stream_clients = Gauge(
            "mewarden_serve_stream_clients", "Live event stream clients.", registry=self.registry
        )


class ServeMiddleware:
    def __init__(self, app: ASGIApp, ctx: ServeContext, metrics: ServeMetrics) -> None:
        self.app = app
        self.ctx = ctx
        self.metrics = metrics
        self.headers = [*_HEADERS, HSTS] if ctx.settings.tls else list(_HEADERS)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        path: str = scope["path"]
        static = path.startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = list(message.get("headers", []))
                own_csp = any(k.lower() == b"content-security-policy" for k, _ in headers)
                headers.extend(h for h in self.headers if not (own_csp and h[0] == _HEADERS[0][0]))
                if not static:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
                self.metrics.seconds.observe(time.perf_counter() - started)
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            self.metrics.requests.labels(scope["method"], f"{status // 100}xx").inc()
            if scope["method"] in UNSAFE:
                await self._audit(scope, status)

    async def _audit(self, scope: Scope, status: int) -> None:
        state: dict[str, Any] = scope.get("state", {})
        principal = state.get("principal")
        actor = principal.actor if principal is not None else "anonymous"
        detail = {"method": scope["method"], "path": scope["path"], "status": status}
        store = self.ctx.store(actor)
        await run_in_threadpool(lambda: store.record("api.request", None, **detail))
