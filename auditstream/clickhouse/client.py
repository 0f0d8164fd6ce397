"""Opening ClickHouse from a DSN: `chdb:///path` (embedded) or `http(s)://...` (server)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol

import clickhouse_connect

from auditstream.errors import ConfigError

log = logging.getLogger(__name__)


class QueryResult(Protocol):
    """What this package reads of a clickhouse-connect query result."""

    @property
    def result_rows(self) -> Sequence[Sequence[Any]]: ...
    @property
    def column_names(self) -> Sequence[str]: ...


class ClickHouseClient(Protocol):
    """The part of clickhouse-connect's client this package uses (chdb and HTTP alike)."""

    def query(
        self,
        query: str,
        parameters: dict[str, Any] | None = None,
        settings: dict[str, Any] | None = None,
        *,
        column_formats: dict[str, str | dict[str, str]] | None = None,
    ) -> QueryResult: ...

    def query_column_block_stream(
        self,
        query: str,
        parameters: dict[str, Any] | None = None,
        settings: dict[str, Any] | None = None,
        *,
        column_formats: dict[str, str | dict[str, str]] | None = None,
    ) -> AbstractContextManager[Iterable[Sequence[Sequence[Any]]]]: ...

    def command(
        self,
        cmd: str,
        parameters: dict[str, Any] | None = None,
        *,
        settings: dict[str, Any] | None = None,
    ) -> object: ...

    def insert(
        self,
        table: str,
        data: Sequence[Sequence[Any]],
        column_names: Sequence[str] = ...,
        *,
        column_oriented: bool = False,
        settings: dict[str, Any] | None = None,
    ) -> object: ...

    def close(self) -> None: ...


def connect(dsn: str) -> ClickHouseClient:
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
        client: ClickHouseClient = clickhouse_connect.get_client(dsn=dsn)
        return client
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
