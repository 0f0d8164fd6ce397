"""The one ASGI application of `auditstream serve` and `auditstream console`:

    /v1/...             the JSON API (`auditstream.query.api`), OpenAPI at /v1/openapi.json
    /, /search, ...     the auditor's console (`auditstream.web.console`)
    /metrics            Prometheus (prometheus_client's ASGI app)
    /health             JSON; 200 when the store answers, else 503

With an access log (`Settings.access_log`), every answered request is recorded as an
audit event (`auditstream.web.access`).

Every error is an answer: JSON `{"error": ..., "field": ...}` with a 4xx/5xx status
for the API, an HTML page for the console. Bodies above `max_body_bytes` get 413 before
the application reads them. Every response carries the security headers below.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import make_asgi_app
from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.routing import Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from auditstream import __version__
from auditstream.clickhouse.client import ClickHouseClient
from auditstream.core.keys import NoteVerifier
from auditstream.core.retention import Policy
from auditstream.errors import AuditStreamError, QueryError
from auditstream.query import api
from auditstream.query.access import AccessLog
from auditstream.query.store import AccessDeniedError, AuditStore
from auditstream.verification.entry import EntryChecker
from auditstream.web import console
from auditstream.web.access import AccessRecorder, note_grant
from auditstream.web.auth import Authenticator, Unauthorized
from auditstream.web.jobs import Jobs
from auditstream.web.packs import Packs, PackSettings
from auditstream.web.resources import STATIC

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = (
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
)
HSTS = (b"strict-transport-security", b"max-age=31536000")


@dataclass
class Settings:
    """What the application is given; `client` is shared by every request."""

    client: ClickHouseClient
    database: str
    grants: Sequence[api.Grant]
    verifiers: Sequence[NoteVerifier]
    policy: Policy
    lock: threading.Lock = field(default_factory=threading.Lock)
    max_body_bytes: int = MAX_BODY_BYTES
    tls: bool = False
    health: Callable[[], dict[str, Any]] = dict
    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)
    access_log: AccessLog | None = None  # every answered request recorded there
    packs: PackSettings | None = None  # without it, evidence packs answer 503
    described: str = ""  # the store as evidence packs name it (no credentials)


def create_app(settings: Settings) -> ASGIApp:
    """The application, wrapped so that even a failure's answer has the headers."""
    app = FastAPI(
        title="auditstream",
        version=__version__,
        description="Read-only API over sealed audit events; every answer is tenant scoped.",
        openapi_url="/v1/openapi.json",
        docs_url=None,  # the interactive docs load scripts from a CDN
        redoc_url=None,
    )
    auth = Authenticator(settings.grants)

    def make_store(tenants: frozenset[str] | None) -> AuditStore:
        return AuditStore(settings.client, settings.database, tenants=tenants, lock=settings.lock)

    def bearer(request: Request) -> api.Grant:
        return note_grant(
            request, auth.bearer(request.headers.get("authorization"), _client(request))
        )

    packs = Packs(
        settings.client,
        settings.database,
        settings.verifiers,
        settings.lock,
        settings.packs,
        settings.described,
    )
    backend = api.Backend(
        make_store, EntryChecker(settings.verifiers), bearer, packs, now=settings.now
    )
    jobs = Jobs(settings.client, settings.database, settings.verifiers, settings.lock)
    app.include_router(api.router(backend))
    app.include_router(console.router(console.Console(backend, auth, jobs, settings.policy)))
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.router.routes.append(Route("/metrics", _Asgi(make_asgi_app()), include_in_schema=False))

    @app.get("/health", include_in_schema=False)
    def health() -> Response:
        status: dict[str, Any] = {"ok": True, **settings.health()}
        try:
            with settings.lock:
                settings.client.query("SELECT 1")
        except Exception as exc:  # any failure of the store is what health reports
            log.warning("health: the store does not answer: %s", exc)
            status = {**status, "ok": False, "store": "does not answer"}
        return JSONResponse(status, 200 if status["ok"] else 503)

    # Known kinds are answered by the exception middleware; `Exception` (a bug, or the
    # store failing) by the outermost one, which also logs the traceback.
    handled = (
        HTTPException,
        RequestValidationError,
        ValidationError,
        AuditStreamError,
        Unauthorized,
    )
    for kind in (*handled, Exception):
        app.add_exception_handler(kind, _answer_error)
    guarded = _Guard(app, max_body_bytes=settings.max_body_bytes, tls=settings.tls)
    if settings.access_log is None:
        return guarded
    return AccessRecorder(guarded, settings.access_log)


class _Asgi:
    """An ASGI app as a route's endpoint (a plain function would be taken for a request
    handler), so that /metrics answers without a redirect to /metrics/."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _validation_message(errors: Sequence[Any]) -> tuple[str, str]:
    first = errors[0] if errors else {}
    where = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path")]
    name = where[0] if where else "body"  # the field, not the union member inside it
    text = str(first.get("msg", "invalid request"))
    if first.get("type") == "json_invalid":
        return "body", "the body is not valid JSON"
    if first.get("type") == "model_attributes_type":
        return "body", "the body must be a JSON object, sent as application/json"
    if first.get("type") == "extra_forbidden":
        return name, f"unknown field {name!r}"
    return name, f"{name}: {text.removeprefix('Value error, ')}"


def error_of(exc: Exception) -> tuple[int, str, str | None, dict[str, str]]:
    """(status, message, field, headers) for an exception reaching the application."""
    if isinstance(exc, Unauthorized):
        if exc.retry_after is not None:
            return 429, str(exc), None, {"Retry-After": str(exc.retry_after)}
        return 401, str(exc), None, {"WWW-Authenticate": 'Bearer realm="auditstream"'}
    if isinstance(exc, RequestValidationError | ValidationError):
        name, message = _validation_message(exc.errors())
        return 400, message, name, {}
    if isinstance(exc, api.NotFoundError):
        return 404, str(exc), None, {}
    if isinstance(exc, api.ConflictError):
        return 409, str(exc), None, {}
    if isinstance(exc, AccessDeniedError):
        return 403, str(exc), None, {}
    if isinstance(exc, QueryError):
        message = str(exc)
        first = message.split(" ", 1)[0]
        return 400, message, first[:-1] if first.endswith(":") else None, {}
    if isinstance(exc, HTTPException):
        return exc.status_code, str(exc.detail), None, dict(exc.headers or {})
    if isinstance(exc, AuditStreamError):
        log.error("request failed: %s", exc)
        return 500, str(exc), None, {}
    return 500, "internal error: the store could not answer; see the server log", None, {}


async def _answer_error(request: Request, exc: Exception) -> Response:
    status, message, name, headers = error_of(exc)
    if console.wants_html(request):
        return console.error_page(request, status, message, headers)
    body: dict[str, Any] = {"error": message}
    if name:
        body["field"] = name
    return JSONResponse(body, status, headers=headers)


class _Guard:
    """Pure ASGI: refuse oversize bodies with 413 before the app reads them, and add
    the security headers to every response."""

    def __init__(self, app: ASGIApp, max_body_bytes: int, tls: bool) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.headers = [*HEADERS, HSTS] if tls else list(HEADERS)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {name for name, _ in message.get("headers", [])}
                extra = [h for h in self.headers if h[0] not in names]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body_bytes):
            await _too_large(send_with_headers, self.max_body_bytes)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                await _too_large(send_with_headers, self.max_body_bytes)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        given = False

        async def replay() -> Message:
            nonlocal given
            if not given:
                given = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send_with_headers)


async def _too_large(send: Send, limit: int) -> None:
    data = json.dumps({"error": f"the request body is larger than {limit} bytes"}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})
