"""Opening ClickHouse from a DSN: `chdb:///path` (embedded) or `http(s)://...` (server)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import clickhouse_connect

from auditstream.errors import ConfigError

log = logging.getLogger(__name__)


def connect(dsn: str) -> Any:
    """A clickhouse-connect client. For chdb the folder is created first.

    Remember: one process may open a chdb path, and a process only one path
    (docs/decisions/0005-embedded-clickhouse-one-path-per-process.md).
    """
    if dsn.startswith("chdb://") and dsn not in ("chdb://", "chdb://memory"):
        Path(dsn.removeprefix("chdb://")).mkdir(parents=True, exist_ok=True)
    elif not dsn.startswith(("http://", "https://", "chdb://", "clickhouse://")):
        raise ConfigError(
            f"unsupported ClickHouse DSN {redact(dsn)!r}: use chdb:///path or http(s)://"
        )
    try:
        return clickhouse_connect.get_client(dsn=dsn)
    except Exception as exc:
        raise ConfigError(f"cannot open ClickHouse at {redact(dsn)}: {exc}") from exc


def redact(dsn: str) -> str:
    """The DSN with any password replaced, for messages."""
    if "@" in dsn and "://" in dsn:
        scheme, rest = dsn.split("://", 1)
        credentials, host = rest.rsplit("@", 1)
        user = credentials.split(":", 1)[0]
        return f"{scheme}://{user}:****@{host}"
    return dsn
