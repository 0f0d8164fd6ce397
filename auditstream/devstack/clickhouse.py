"""Embedded ClickHouse (chdb) through clickhouse-connect.

A chdb path can be opened by exactly one process, and one process can open only one
path. So in embedded mode the process that writes (the sink, `auditstream serve`) is
also the one that answers queries; other processes query through its HTTP API, or
open the path after it has stopped.
"""

from __future__ import annotations

from pathlib import Path


def dsn(state: Path) -> str:
    return f"chdb://{(state / 'clickhouse').resolve()}"
