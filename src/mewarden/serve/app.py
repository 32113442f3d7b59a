"""The ASGI application of ``mewarden serve``: REST API under ``/api/v1`` (OpenAPI at
``/api/v1/openapi.json``), server-rendered pages, ``/metrics`` and ``/healthz``.

FastAPI's Swagger UI is switched off: it loads its assets from a CDN, and controllers are often
air-gapped; the OpenAPI document itself is served.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool

from mewarden import __version__
from mewarden.serve import (
    api_amt,
    api_fleet,
    api_nodes,
    console,
    console_kvm,
    errors,
    login,
    pages,
)
from mewarden.serve.auth import VIEWER_ROLE, LoginThrottle, require
from mewarden.serve.context import ServeContext
from mewarden.serve.middleware import ServeMetrics, ServeMiddleware
from mewarden.serve.stream import EventHub
from mewarden.serve.views import Overview

STATIC = Path(__file__).resolve().parent / "static"


def create_app(ctx: ServeContext) -> FastAPI:
    hub = EventHub(ctx)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        await hub.aclose()

    app = FastAPI(
        title="mewarden",
        version=__version__,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    metrics = ServeMetrics()
    metrics.stream_clients.set_function(lambda: hub.subscribers)
    app.state.ctx = ctx
    app.state.hub = hub
    app.state.metrics = metrics
    app.state.overview = Overview()
    app.state.throttle = LoginThrottle(ctx.settings.login_attempts_per_minute)
    errors.install(app)
    routers = (
        login.router,
        api_nodes.router,
        api_fleet.router,
        api_amt.router,
        console.router,
        console_kvm.router,
    )
    for router in (*routers, pages.router):
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    _add_service_routes(app)
    app.add_middleware(ServeMiddleware, ctx=ctx, metrics=metrics)
    return app


def _add_service_routes(app: FastAPI) -> None:
    @app.get("/healthz", tags=["service"])
    async def healthz(request: Request) -> dict[str, Any]:
        """Liveness and database reachability (no authentication: for load balancers)."""
        ctx: ServeContext = request.app.state.ctx

        def ping() -> None:
            with ctx.engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")

        await run_in_threadpool(ping)
        return {"ok": True, "version": __version__}

    @app.get("/api/v1/openapi.json", tags=["service"], dependencies=[require(VIEWER_ROLE)])
    async def openapi(request: Request) -> dict[str, Any]:
        """This API's OpenAPI document (signed-in users and tokens only, like every route)."""
        document: dict[str, Any] = request.app.openapi()
        return document

    @app.get("/metrics", tags=["service"], dependencies=[require(VIEWER_ROLE)])
    async def metrics(request: Request) -> Response:
        """Prometheus metrics of this replica (send a viewer token)."""
        registry = request.app.state.metrics.registry
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
