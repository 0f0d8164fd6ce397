"""What a failed command says: one line naming the resource and the cause.

`describe` turns the errors a command can meet — this package's own, and the known
failures of Kafka, ClickHouse, S3, the filesystem and the key files — into that line.
Anything else is a bug, and says so. The traceback is for `--debug`.
"""

from __future__ import annotations

import importlib
import re
from typing import Any

from auditstream.errors import AuditStreamError

MAX_DETAIL = 300
# "Code: 164. DB::Exception: default: Cannot execute query in readonly mode. (READONLY)"
_CLICKHOUSE = re.compile(
    r"Code:\s*(\d+)\.\s*DB::Exception:\s*(?:[\w.-]+:\s)?(.*?)(?:\(version .*)?$"
)


def _optional(module: str, name: str) -> type[BaseException] | None:
    """An exception class of an optional dependency, or None when it is not installed."""
    try:
        found: Any = getattr(importlib.import_module(module), name)
    except ImportError:
        return None
    return found if isinstance(found, type) and issubclass(found, BaseException) else None


_URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@\s]+@", re.IGNORECASE)


def _first_line(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    line = _URL_PASSWORD.sub(r"\1****@", line)  # a DSN with a password, quoted by a library
    return line if len(line) <= MAX_DETAIL else line[: MAX_DETAIL - 1] + "…"


def _clickhouse(exc: BaseException) -> str:
    text = _first_line(str(exc))
    found = _CLICKHOUSE.search(text)
    if found:
        return f"ClickHouse refused it: {found.group(2).strip()} (code {found.group(1)})"
    return f"ClickHouse: {text}"


def _s3(exc: BaseException) -> str:
    name = type(exc).__name__
    if name == "NoCredentialsError":
        return (
            "S3: no credentials; set AUDITSTREAM_S3_ACCESS_KEY and AUDITSTREAM_S3_SECRET_KEY "
            "(or the AWS credential chain)"
        )
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        error = response.get("Error", {})
        operation = getattr(exc, "operation_name", "the request")
        return (
            f"S3 refused {operation}: {error.get('Code', '?')} {error.get('Message', '')}".strip()
        )
    return f"S3: {_first_line(str(exc))}"


def _kafka(exc: BaseException) -> str:
    error: Any = exc.args[0] if exc.args else None
    text = error.str() if hasattr(error, "str") else str(exc)
    return f"Kafka: {_first_line(text)}"


def _os(exc: OSError) -> str:
    where = exc.filename if exc.filename is not None else "a file"
    return f"{where}: {exc.strerror or _first_line(str(exc))}"


def describe(exc: BaseException) -> tuple[str, bool]:
    """The one line to print for `exc`, and whether it is a known kind of failure
    (False: a bug in auditstream)."""
    if isinstance(exc, AuditStreamError):
        return _first_line(str(exc)) or type(exc).__name__, True
    for module, name, render in (
        ("clickhouse_connect.driver.exceptions", "ClickHouseError", _clickhouse),
        ("botocore.exceptions", "BotoCoreError", _s3),
        ("botocore.exceptions", "ClientError", _s3),
        ("confluent_kafka", "KafkaException", _kafka),
    ):
        kind = _optional(module, name)
        if kind is not None and isinstance(exc, kind):
            return render(exc), True
    if isinstance(exc, OSError):
        return _os(exc), True
    text = _first_line(str(exc))
    return f"unexpected {type(exc).__name__}{': ' + text if text else ''}", False
