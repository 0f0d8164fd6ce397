"""Prometheus metrics and a health endpoint for long-running commands.

`serve(port, health)` starts a small HTTP server in a daemon thread:
    GET /metrics   Prometheus text format (prometheus_client's default registry)
    GET /health    JSON from `health()`; 200 when its "ok" is true, else 503
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

log = logging.getLogger(__name__)

Health = Callable[[], dict[str, Any]]


def serve(port: int, health: Health, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """Start serving; returns the server (its `server_address` has the real port)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/metrics":
                self._reply(200, CONTENT_TYPE_LATEST, generate_latest())
            elif self.path == "/health":
                status = health()
                code = 200 if status.get("ok") else 503
                self._reply(code, "application/json", json.dumps(status).encode())
            else:
                self._reply(404, "text/plain", b"not found\n")

        def _reply(self, code: int, content_type: str, body: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("metrics %s", format % args)

    server = ThreadingHTTPServer((host, port), Handler)
    thread = threading.Thread(target=server.serve_forever, name="metrics", daemon=True)
    thread.start()
    log.info("metrics and health on http://%s:%d/", host, server.server_address[1])
    return server
