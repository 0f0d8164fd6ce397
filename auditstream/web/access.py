"""The access log of the web application (`serve --access-log TENANT`): every answered
request becomes an `Access` handed to `AccessLog.record` (`auditstream.query.access`).

Pure ASGI around the whole application, so that answers given before a route runs
(401, 413, 404) are recorded too. Who asked is what the route's authentication found:
`note_grant` puts the grant in the request's state, where this middleware reads it
after the answer. The event is recorded before the last part of the answer is sent,
so a client that has its answer knows the access is in the producer. Static assets
and /metrics are not reads of audit data and are not recorded (nor is /health, which
`AccessLog` skips).
"""

from __future__ import annotations

import json
import time
import urllib.parse
from typing import Any

import anyio
import anyio.to_thread
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from auditstream.query.access import Access, AccessLog
from auditstream.query.api import Grant

GRANT_KEY = "auditstream_grant"
UNRECORDED_PATHS = frozenset({"/metrics", "/static"})


def note_grant(request: Request, grant: Grant) -> Grant:
    """Remember who the request is from, for the access log; returns `grant`."""
    request.scope.setdefault("state", {})[GRANT_KEY] = grant
    return grant


def rows_in(body: bytes) -> int | None:
    """How many rows a JSON answer holds, when it has a "rows" list."""
    if b'"rows"' not in body:
        return None
    try:
        payload = json.loads(body)
    except ValueError:
        return None
    rows = payload.get("rows") if isinstance(payload, dict) else None
    return len(rows) if isinstance(rows, list) else None


class AccessRecorder:
    """Records each answered HTTP request of `app` in `access_log`."""

    def __init__(self, app: ASGIApp, access_log: AccessLog) -> None:
        self.app = app
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", "")).rstrip("/") or "/"
        if scope["type"] != "http" or path in UNRECORDED_PATHS or path.startswith("/static/"):
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        state: dict[str, Any] = scope.setdefault("state", {})
        query = urllib.parse.parse_qs(scope.get("query_string", b"").decode("latin-1"))
        params = {k: v[-1] for k, v in query.items()}
        status = 500  # what the server answers when the application sends nothing
        is_json = False
        chunks: list[bytes] = []
        recorded = False

        async def record() -> None:
            nonlocal recorded
            recorded = True
            grant = state.get(GRANT_KEY)
            access = Access(
                scope.get("method", ""),
                path,
                status,
                principal=grant.name if grant else None,
                scope=grant.tenants if grant else frozenset(),
                tenant=params.get("tenant"),
                params=params,
                rows=rows_in(b"".join(chunks)) if is_json else None,
                client=scope["client"][0] if scope.get("client") else "",
                duration_ms=round((time.monotonic() - started) * 1000, 3),
            )
            # The producer may touch its spool file: off the event loop.
            await anyio.to_thread.run_sync(self.access_log.record, access)

        async def send_recorded(message: Message) -> None:
            nonlocal status, is_json
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = dict(message.get("headers", []))
                is_json = headers.get(b"content-type", b"").startswith(b"application/json")
            elif message["type"] == "http.response.body":
                if is_json:
                    chunks.append(message.get("body", b""))
                if not message.get("more_body", False) and not recorded:
                    await record()
            await send(message)

        try:
            await self.app(scope, receive, send_recorded)
        finally:
            if not recorded:
                with anyio.CancelScope(shield=True):  # a client gone is still an access
                    await record()
