"""A read-only HTTP JSON API over an `AuditStore`, for auditors without database access.

    GET  /health
    GET  /v1/queries                     the named queries and their parameters
    GET  /v1/queries/<name>?k=v&tenant=  run one
    GET  /v1/entries/<event_id>
    GET  /v1/entries?start=&end=&tenant=&limit=&cursor=
    POST /v1/search                      an AuditQuery as JSON

Every request carries `Authorization: Bearer <token>`. The tokens file (TOML) maps the
SHA-256 of each token to the tenants it may read (`["*"]` for all):

    [tokens.acme-auditor]
    sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
    tenants = ["acme"]

Tokens themselves are never stored or logged. There is no raw SQL over HTTP.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import threading
import time
import tomllib
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from auditstream.errors import AuditStreamError, ConfigError, QueryError
from auditstream.query.access import Access, AccessLog
from auditstream.query.named import QUERIES
from auditstream.query.store import AccessDeniedError, AuditQuery, AuditStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Grant:
    name: str
    digest: bytes
    tenants: frozenset[str] | None  # None: every tenant


def load_tokens(path: Path) -> list[Grant]:
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read tokens file {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"tokens file {path}: {exc}") from exc
    grants = []
    for name, spec in doc.get("tokens", {}).items():
        try:
            digest = bytes.fromhex(spec["sha256"])
            tenants = [str(t) for t in spec["tenants"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"{path}: token {name!r} needs sha256 and tenants") from exc
        if len(digest) != 32:
            raise ConfigError(f"{path}: token {name!r}: sha256 must be 64 hex digits")
        grants.append(Grant(name, digest, None if "*" in tenants else frozenset(tenants)))
    return grants


def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class QueryApi:
    """Resolves tokens to scoped stores and answers requests (transport-free)."""

    def __init__(
        self,
        make_store: Callable[[frozenset[str] | None], AuditStore],
        grants: list[Grant],
        access_log: AccessLog | None = None,
    ) -> None:
        self._make_store = make_store
        self._grants = grants
        self._access_log = access_log

    def _grant(self, authorization: str | None) -> Grant | None:
        if not authorization or not authorization.startswith("Bearer "):
            return None
        digest = token_digest(authorization.removeprefix("Bearer ").strip())
        for grant in self._grants:
            if hmac.compare_digest(grant.digest, digest):
                return grant
        return None

    def handle(
        self, method: str, target: str, authorization: str | None, body: bytes, client: str = ""
    ) -> tuple[int, Any]:
        """Answer one request; with an access log, record it there."""
        started = time.monotonic()
        url = urllib.parse.urlsplit(target)
        path = url.path.rstrip("/")
        params = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query).items()}
        grant = self._grant(authorization)
        status, payload = self._answer(method, path, grant, dict(params), body)
        if self._access_log is not None:
            rows = payload.get("rows") if isinstance(payload, dict) else None
            self._access_log.record(
                Access(
                    method,
                    path or "/",
                    status,
                    principal=grant.name if grant else None,
                    scope=grant.tenants if grant else frozenset(),
                    tenant=params.get("tenant"),
                    params=params,
                    rows=len(rows) if isinstance(rows, list) else None,
                    client=client,
                    duration_ms=round((time.monotonic() - started) * 1000, 3),
                )
            )
        return status, payload

    def _answer(
        self, method: str, path: str, grant: Grant | None, params: dict[str, str], body: bytes
    ) -> tuple[int, Any]:
        if path == "/health":
            return 200, {"ok": True}
        if grant is None:
            return 401, {"error": "missing or unknown bearer token"}
        tenant = params.pop("tenant", None)
        store = self._make_store(grant.tenants)
        try:
            return self._route(method, path, params, tenant, body, store)
        except AccessDeniedError as exc:
            return 403, {"error": str(exc)}
        except (QueryError, ValueError) as exc:
            return 400, {"error": str(exc)}
        except AuditStreamError as exc:
            return 500, {"error": str(exc)}

    def _route(
        self,
        method: str,
        path: str,
        params: dict[str, str],
        tenant: str | None,
        body: bytes,
        store: AuditStore,
    ) -> tuple[int, Any]:
        if method == "GET" and path == "/v1/queries":
            return 200, {
                q.name: {"description": q.description, "params": [p.name for p in q.params]}
                for q in QUERIES.values()
            }
        if method == "GET" and path.startswith("/v1/queries/"):
            name = path.removeprefix("/v1/queries/")
            return 200, {"rows": store.named(name, params, tenant=tenant)}
        if method == "GET" and path.startswith("/v1/entries/"):
            entry = store.get_entry(path.removeprefix("/v1/entries/"), tenant=tenant)
            return (200, entry) if entry is not None else (404, {"error": "no such entry"})
        if method == "GET" and path == "/v1/entries":
            page = store.query(
                AuditQuery(
                    tenant=tenant,
                    start=_time(params.get("start")),
                    end=_time(params.get("end")),
                    limit=int(params.get("limit", "100")),
                    cursor=params.get("cursor"),
                )
            )
            return 200, {"rows": page.rows, "next_cursor": page.next_cursor}
        if method == "POST" and path == "/v1/search":
            fields = json.loads(body or b"{}")
            for key in ("start", "end"):
                fields[key] = _time(fields.get(key))
            page = store.query(AuditQuery(**fields))
            return 200, {"rows": page.rows, "next_cursor": page.next_cursor}
        return 404, {"error": f"no route {method} {path}"}


def _time(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    parsed = dt.datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def serve(api: QueryApi, port: int, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """Serve `api` from a daemon thread; returns the server (its address has the port)."""

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            status, payload = api.handle(
                method, self.path, self.headers.get("Authorization"), body, self.client_address[0]
            )
            data = json.dumps(payload, default=str).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._answer("GET")

        def do_POST(self) -> None:
            self._answer("POST")

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("api %s", format % args)

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, name="query-api", daemon=True).start()
    log.info("query API on http://%s:%d/", host, server.server_address[1])
    return server
