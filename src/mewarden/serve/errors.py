"""Errors as JSON with the CLI's exit codes, and the HTTP status each kind of error maps to.

Bodies carry the error's one-line message (written to be safe to show: never a secret) and
never a traceback; an unexpected exception is logged and answered with a bare code 1.
"""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException

from mewarden import errors as e
from mewarden.serve.auth import AccessError

log = structlog.get_logger("mewarden.serve")

# most specific first
_STATUS: tuple[tuple[type[e.MewardenError], int], ...] = (
    (e.NodeNotFoundError, 404),
    (e.DuplicateError, 409),
    (e.LeaseLostError, 409),
    (e.StateError, 409),
    (e.BadInputError, 400),
    (e.RemediationBlockedError, 409),
    (e.RefusedError, 409),
    (e.AmtTimeoutError, 504),
    (e.AmtBusyError, 503),
    (e.AmtUnsupportedError, 501),
    (e.AmtError, 502),
    (e.VaultError, 503),
)


def http_status(exc: e.MewardenError) -> int:
    status = getattr(exc, "status", None)
    if isinstance(status, int):
        return status
    for kind, code in _STATUS:
        if isinstance(exc, kind):
            return code
    return 500


def error_body(code: int, kind: str, message: str, *, retryable: bool = False) -> dict[str, Any]:
    return {"error": {"code": code, "type": kind, "message": message, "retryable": retryable}}


def _is_page(request: Request) -> bool:
    path = request.url.path
    return not path.startswith(("/api/", "/metrics", "/healthz"))


async def mewarden_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, e.MewardenError)
    status = http_status(exc)
    if _is_page(request) and isinstance(exc, AccessError) and status == 401:
        return RedirectResponse("/login", status_code=303)
    body = error_body(exc.exit_code, type(exc).__name__, str(exc), retryable=exc.retryable)
    return JSONResponse(body, status_code=status)


async def validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    where = "; ".join(
        f"{'.'.join(str(p) for p in err.get('loc', ()))}: {err.get('msg', '')}"
        for err in exc.errors()[:5]
    )
    body = error_body(2, "BadInputError", f"bad request: {where}")
    return JSONResponse(body, status_code=400)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = 5 if exc.status_code in (401, 403) else 2
    body = error_body(code, "HTTPError", str(exc.detail))
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)


async def unexpected_error(request: Request, exc: Exception) -> Response:
    log.error("serve.internal_error", path=request.url.path, error=type(exc).__name__)
    body = error_body(1, "InternalError", "internal error (a bug: see the server log)")
    return JSONResponse(body, status_code=500)


def install(app: Any) -> None:
    app.add_exception_handler(e.MewardenError, mewarden_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(Exception, unexpected_error)
