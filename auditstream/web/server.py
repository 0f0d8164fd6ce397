"""Serving the application with uvicorn from a background thread, on a socket bound
first (so port 0 picks a free port that is known before the first request), over TLS
when given a certificate and key."""

from __future__ import annotations

import logging
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from starlette.types import ASGIApp

from auditstream.errors import ConfigError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Listen:
    host: str = "127.0.0.1"
    port: int = 8088
    tls_cert: Path | None = None
    tls_key: Path | None = None

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None


def check_tls(listen: Listen) -> None:
    """ConfigError naming the file when the certificate and key cannot be used."""
    if (listen.tls_cert is None) != (listen.tls_key is None):
        raise ConfigError("give both --tls-cert and --tls-key, or neither")
    if listen.tls_cert is None or listen.tls_key is None:
        return
    for path in (listen.tls_cert, listen.tls_key):
        if not path.is_file():
            raise ConfigError(f"cannot read {path}: no such file")
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(
            listen.tls_cert, listen.tls_key
        )
    except (ssl.SSLError, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc.strerror or "unusable"
        raise ConfigError(
            f"TLS certificate {listen.tls_cert} with key {listen.tls_key}: {reason}"
        ) from exc


class Running:
    """A started server: its port, and `stop()`."""

    def __init__(self, server: uvicorn.Server, thread: threading.Thread, port: int) -> None:
        self._server = server
        self._thread = thread
        self.port = port

    def stop(self, timeout: float = 10.0) -> None:
        self._server.should_exit = True
        self._thread.join(timeout)


def start(app: ASGIApp, listen: Listen) -> Running:
    """Bind, then serve `app` from a daemon thread until `stop()`."""
    check_tls(listen)
    try:
        sock = socket.create_server((listen.host, listen.port), reuse_port=False)
    except OSError as exc:
        raise ConfigError(
            f"cannot listen on {listen.host}:{listen.port}: {exc.strerror or exc}"
        ) from exc
    port = int(sock.getsockname()[1])
    config = uvicorn.Config(
        app,
        log_config=None,  # the command configures logging, never a library
        access_log=False,
        lifespan="off",
        server_header=False,
        timeout_graceful_shutdown=5,
        ssl_certfile=str(listen.tls_cert) if listen.tls_cert else None,
        ssl_keyfile=str(listen.tls_key) if listen.tls_key else None,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="http", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    if not server.started:
        raise ConfigError(f"the web server did not start on {listen.host}:{port}")
    scheme = "https" if listen.tls else "http"
    log.info("serving on %s://%s:%d/", scheme, listen.host, port)
    return Running(server, thread, port)
