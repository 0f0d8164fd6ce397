"""The archive's transparency logs over HTTP, read-only: a plain ASGI app that any C2SP
tlog client can point at (`<base>/v1/tlog/<tenant>/<log>/` is a log's prefix).

    GET|HEAD /v1/tlog/vkeys                         the checkpoint verifier keys
    GET|HEAD /v1/tlog/<tenant>/<log>/checkpoint     the latest checkpoint
    GET|HEAD /v1/tlog/<tenant>/<log>/tile/...       hash tiles and entry bundles
    GET|HEAD /v1/tlog/<tenant>/<log>/checkpoints/<day>/<size>[.<id>.cosig]

It needs no framework, so `auditstream tlog serve` runs it with uvicorn and the ASGI
`auditstream serve` can mount it as it is (its own path is read from `scope["path"]`
after the mount's `root_path`). Nothing outside `v1/tlog/` is served: segments and
manifests hold audit content, the tiles only hashes.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from auditstream.archive import tlog
from auditstream.archive.store import ArchiveStore
from auditstream.errors import AuditStreamError

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

# A key segment: letters, digits and the few characters chain ids, days and tile
# paths use; never `..` or an empty segment.
_SEGMENT = r"[A-Za-z0-9_~=-][A-Za-z0-9_.~=-]*"
_KEY = re.compile(rf"(?:{_SEGMENT}/)*{_SEGMENT}\Z")
_FULL_TILE = re.compile(r".*/tile/(?:entries|\d+)/(?:x\d{3}/)*\d{3}\Z")


def _headers(key: str) -> list[tuple[bytes, bytes]]:
    kind = b"application/octet-stream" if "/tile/" in key else b"text/plain; charset=utf-8"
    # A full tile never changes; a partial one, the checkpoint and the listing may.
    immutable = _FULL_TILE.match(key) or "/checkpoints/" in key
    cache = b"public, max-age=31536000, immutable" if immutable else b"no-cache"
    return [(b"content-type", kind), (b"cache-control", cache)]


class TlogApp:
    """ASGI app serving the `v1/tlog/` objects of an archive store, read-only."""

    def __init__(self, store: ArchiveStore) -> None:
        self.store = store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return  # no lifespan state: the server that runs or mounts it needs none
        path = str(scope.get("path", ""))
        root = str(scope.get("root_path", ""))
        if root and path.startswith(root):
            path = path[len(root) :]
        key = path.lstrip("/")
        method = scope.get("method", "GET")
        if method not in ("GET", "HEAD"):
            await _reply(send, 405, b"read-only: GET or HEAD\n", [(b"allow", b"GET, HEAD")])
            return
        if not key.startswith(tlog.ROOT) or not _KEY.match(key) or key.endswith(".tmp"):
            await _reply(send, 404, b"not a transparency log object\n")
            return
        try:
            data = self.store.get(key)
        except IsADirectoryError:
            data = None
        except (OSError, AuditStreamError) as exc:
            log.error("reading %s for HTTP failed: %s", key, exc)
            await _reply(send, 503, b"the archive cannot be read right now\n")
            return
        if data is None:
            await _reply(send, 404, b"not found\n")
            return
        await _reply(send, 200, b"" if method == "HEAD" else data, _headers(key), len(data))


async def _reply(
    send: Send,
    status: int,
    body: bytes,
    headers: list[tuple[bytes, bytes]] | None = None,
    length: int | None = None,
) -> None:
    extra = headers or [(b"content-type", b"text/plain; charset=utf-8")]
    size = str(len(body) if length is None else length).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*extra, (b"content-length", size)],
        }
    )
    await send({"type": "http.response.body", "body": body})
