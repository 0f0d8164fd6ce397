"""Opening ClickHouse from a DSN: `chdb:///path` (embedded) or `http(s)://...` (server)."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Final, Protocol

import clickhouse_connect

from auditstream.errors import ConfigError
from auditstream.settings.config import ClickHouseAuth

log = logging.getLogger(__name__)

# Every session: an insert into a Distributed table (the schema of `migrate --cluster`)
# returns only once its rows are on their shards. Queued in the background instead, rows
# a sink already acknowledged could be missing from the high-water marks it reads back
# after a restart, and it would insert them again.
SESSION_SETTINGS: Final = {"distributed_foreground_insert": 1}


class QueryResult(Protocol):
    """What this package reads of a clickhouse-connect query result."""

    @property
    def result_rows(self) -> Sequence[Sequence[Any]]: ...
    @property
    def column_names(self) -> Sequence[str]: ...


class ClickHouseClient(Protocol):
    """The part of clickhouse-connect's client this package uses (chdb and HTTP alike)."""

    uri: str  # chdb://<path> for embedded ClickHouse

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

    def raw_insert(
        self,
        table: str,
        column_names: Sequence[str] | None = None,
        insert_block: bytes | None = None,
        settings: dict[str, Any] | None = None,
        fmt: str | None = None,
    ) -> object: ...

    def close(self) -> None: ...


def connect(
    dsn: str, *, create: bool = True, auth: ClickHouseAuth | None = None
) -> ClickHouseClient:
    """A clickhouse-connect client. For chdb the folder is created first, unless
    `create` is False (read-only commands): then a missing folder is an error, so that
    reading never leaves an empty store behind. `auth` (user, password, CA) applies to
    a server; given for chdb, which has no users, it is an error rather than ignored.

    Remember: one process may open a chdb path, and a process only one path
    (docs/decisions/0005-embedded-clickhouse-one-path-per-process.md).
    """
    chdb = dsn.startswith("chdb://")
    if chdb and dsn not in ("chdb://", "chdb://memory"):
        path = Path(dsn.removeprefix("chdb://"))
        if create:
            path.mkdir(parents=True, exist_ok=True)
        elif not path.is_dir():
            raise ConfigError(f"no ClickHouse store at {path} (from {dsn!r}): nothing to read")
    elif not dsn.startswith(("http://", "https://", "chdb://", "clickhouse://")):
        raise ConfigError(
            f"unsupported ClickHouse DSN {redact(dsn)!r}: use chdb:///path or http(s)://"
        )
    extra = auth.client_settings() if auth is not None else {}
    if chdb and extra:
        raise ConfigError(
            f"ClickHouse at {dsn}: an embedded (chdb://) store has no users or TLS; "
            "AUDITSTREAM_CLICKHOUSE_USER, _PASSWORD, _CA_FILE and _VERIFY are for a server"
        )
    try:
        client: ClickHouseClient = clickhouse_connect.get_client(
            dsn=dsn, settings=SESSION_SETTINGS, **extra
        )
    except Exception as exc:
        hint = " (only one process at a time may open an embedded store)" if chdb else ""
        raise ConfigError(f"cannot open ClickHouse at {redact(dsn)}: {_reason(exc)}{hint}") from exc
    return client


def _reason(exc: Exception) -> str:
    """The cause in a few words: the OS error inside an HTTP client's long message."""
    text = str(exc)
    found = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", text)
    if found:
        return found.group(1).strip()
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__


def redact(dsn: str) -> str:
    """The DSN with any password replaced, for messages."""
    if "@" in dsn and "://" in dsn:
        scheme, rest = dsn.split("://", 1)
        credentials, host = rest.rsplit("@", 1)
        user = credentials.split(":", 1)[0]
        return f"{scheme}://{user}:****@{host}"
    return dsn
