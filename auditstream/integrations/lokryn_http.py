"""An HTTP receiver for lokryn-mcp-log's `HTTPSink`, as a plain ASGI application.

    POST /v1/log            a LogRequest as JSON (protobuf JSON, proto field names)
    POST /v1/log/protobuf   a serialized lokryn 0.2.0 LogRequest
    GET  /health

Every POST carries `X-Signature: hex(HMAC-SHA256(secret, body))`, checked against the
configured secret before the body is read as anything. An accepted record is mapped by
`auditstream.core.lokryn` (message text as keyed digests), its MCP tool arguments and
results become content too, and it is recorded through the producer; the answer is
200 with the event id. Refusals are answered, never swallowed: 401 (signature), 400
(malformed body, with the reason), 413 (too large), 503 (the producer's spool is
full), 404 / 405. lokryn's sink raises on any non-2xx answer, so the sender knows.

The app needs no framework: `auditstream ingest http` serves it with uvicorn, and an
ASGI application (such as the console) can mount it under a prefix.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any, Final

from google.protobuf import json_format

from auditstream.core.content import ContentPolicy
from auditstream.core.lokryn import (
    EVENT_TYPE_FROM_V020,
    OUTCOME_FROM_V020,
    SEVERITY_FROM_V020,
    from_lokryn_v020,
    map_log_request,
)
from auditstream.errors import AdapterError
from auditstream.integrations.content import ContentWriter
from auditstream.producers import AuditProducer, SpoolFullError
from auditstream.producers.events import uuid7
from auditstream.proto.compat.lokryn.v020 import log_request_pb2 as v020
from auditstream.proto.v1 import log_entry_pb2 as pb
from auditstream.settings.secret import Secret

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
MAX_BODY: Final = 1024 * 1024


def _v020_names(table: Mapping[int, int], enum: Any, zero: str) -> dict[str, int]:
    """lokryn 0.2.0 value name -> its number: the names are ours but for the zero value."""
    return {zero: 0, **{enum.Name(ours): theirs for theirs, ours in table.items() if theirs}}


# lokryn 0.2.0's enum value names, as MessageToDict writes them, and their numbers.
_V020_ENUMS: Final[dict[str, dict[str, int]]] = {
    "event_type": _v020_names(EVENT_TYPE_FROM_V020, pb.EventType, "EVENT_UNSPECIFIED"),
    "outcome": _v020_names(OUTCOME_FROM_V020, pb.Outcome, "OUTCOME_UNKNOWN"),
    "severity": _v020_names(SEVERITY_FROM_V020, pb.Severity, "SEVERITY_UNKNOWN"),
    "sensitivity": {  # renamed in 0.2.0, so not derived from ours
        "SENSITIVITY_UNKNOWN": 0,
        "SENSITIVITY_PUBLIC": 1,
        "SENSITIVITY_CONFIDENTIAL": 2,
        "SENSITIVITY_SECRET": 3,
        "SENSITIVITY_TOP_SECRET": 4,
        "SENSITIVITY_PUBLIC_INTERNAL": 10,
    },
}


class RefusedError(Exception):
    """A request the receiver answers with an error status."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def signature_ok(secret: Secret, body: bytes, given: str) -> bool:
    """Whether `given` is the lowercase or uppercase hex HMAC-SHA256 of `body`."""
    expected = hmac.new(secret.reveal().encode(), body, hashlib.sha256).hexdigest().encode()
    # As bytes: compare_digest refuses str with non-ASCII characters, which a header may carry.
    return hmac.compare_digest(expected, given.strip().lower().encode("utf-8", "replace"))


def request_from_json(body: bytes) -> v020.LogRequest:
    """A LogRequest from lokryn's JSON (enum names or numbers). Raises `RefusedError`."""
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RefusedError(400, f"body is not JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise RefusedError(400, f"body must be a JSON object, not {type(document).__name__}")
    for name, names in _V020_ENUMS.items():
        value = document.get(name)
        if isinstance(value, str):
            if value not in names:
                raise RefusedError(400, f"{name}: unknown value {value!r}")
            document[name] = names[value]
    request = v020.LogRequest()
    try:
        json_format.ParseDict(document, request)
    except json_format.ParseError as exc:
        raise RefusedError(400, f"not a lokryn LogRequest: {exc}") from exc
    return request


def tool_content(entry: pb.LogEntry, content: ContentWriter) -> None:
    """Tool arguments and results are content: replace the structs by digests."""
    for field, name in (
        ("tool_arguments", "mcp.tool.arguments"),
        ("tool_result", "mcp.tool.result"),
    ):
        if entry.mcp.HasField(field):
            value = json_format.MessageToDict(getattr(entry.mcp, field))
            entry.mcp.ClearField(field)
            content.add(entry, name, value)


class LokrynReceiver:
    """The ASGI app. `secret` is the HMAC key lokryn's `HTTPSink(hmac_key=...)` uses;
    events are recorded for the producer's tenant."""

    def __init__(
        self, producer: AuditProducer, secret: Secret, *, max_body: int = MAX_BODY
    ) -> None:
        if not secret:
            raise ValueError("the receiver needs the HMAC secret its senders sign with")
        if producer.content is None:
            raise ValueError("the receiver needs a producer with a content digest key")
        self.producer = producer
        self._secret = secret
        self.max_body = max_body
        self.policy: ContentPolicy = producer.content
        self.content = ContentWriter.of(producer)
        self.counts: dict[str, int] = {"accepted": 0, "refused": 0}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path = _route_path(scope)
        method = scope.get("method", "GET")
        try:
            if path == "/health":
                if method != "GET":
                    raise RefusedError(405, "use GET")
                await _answer(send, 200, {"ok": True, **self.counts})
                return
            if path not in ("/v1/log", "/v1/log/protobuf"):
                raise RefusedError(404, f"no route {path}")
            if method != "POST":
                raise RefusedError(405, "use POST")
            body = await self._body(scope, receive)
            event_id = self._accept(path, body, _header(scope, b"x-signature"))
        except RefusedError as refused:
            self.counts["refused"] += 1
            log.warning("lokryn receiver refused %s %s: %s", method, path, refused.reason)
            await _answer(send, refused.status, {"error": refused.reason})
            return
        self.counts["accepted"] += 1
        await _answer(send, 200, {"event_id": event_id})

    async def _body(self, scope: Scope, receive: Receive) -> bytes:
        declared = _header(scope, b"content-length")
        if declared.isdigit() and int(declared) > self.max_body:
            raise RefusedError(413, f"body of {declared} bytes exceeds {self.max_body}")
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise RefusedError(400, "client disconnected before the body was complete")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                raise RefusedError(413, f"body exceeds {self.max_body} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    def _accept(self, path: str, body: bytes, signature: str) -> str:
        if not signature:
            raise RefusedError(401, "missing X-Signature header (HMAC-SHA256 of the body, hex)")
        if not signature_ok(self._secret, body, signature):
            raise RefusedError(401, "X-Signature does not match the body")
        tenant = self.producer.config.tenant_id
        try:
            if path == "/v1/log":
                entry = map_log_request(request_from_json(body), self.policy, tenant_id=tenant)
            else:
                entry = from_lokryn_v020(body, self.policy, tenant_id=tenant)
        except AdapterError as exc:
            raise RefusedError(400, f"{exc.reason}: {exc}") from exc
        now = time.time_ns()
        entry.event_id = uuid7(now)
        if not entry.HasField("event_time"):
            entry.event_time.FromNanoseconds(now)
        tool_content(entry, self.content)
        try:
            return self.producer.emit(entry)
        except SpoolFullError as exc:
            raise RefusedError(503, "audit spool is full; retry later") from exc


def _route_path(scope: Scope) -> str:
    """The path below the prefix the app is mounted at."""
    path = str(scope.get("path", "/"))
    root = str(scope.get("root_path", ""))
    if root and path.startswith(root):
        path = path[len(root) :] or "/"
    return path.rstrip("/") or "/"


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return ""


async def _answer(send: Send, status: int, payload: dict[str, Any]) -> None:
    body = json.dumps(payload).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
