"""Evidence items: what a pack records of each query or source (pure).

An item holds how it was gathered (the SQL, or a description), the bound parameters,
its rows as plain JSON values, and the SHA-256 of those rows in canonical JSON
(sorted keys, no spaces, UTF-8), so the hash can be recomputed from the rows alone or
from a fresh run of the same SQL.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from auditstream.errors import FormatError
from auditstream.reports.rules import Evidence

KINDS = ("sql", "verification", "archive", "dead_letters")


def plain(value: Any) -> Any:
    """A stored value as JSON: times in ISO 8601 (UTC), bytes in hex, tuples as lists."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    return value


def canonical(rows: Sequence[Mapping[str, Any]]) -> bytes:
    return json.dumps(rows, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def rows_digest(rows: Sequence[Mapping[str, Any]]) -> str:
    return hashlib.sha256(canonical(rows)).hexdigest()


@dataclass(frozen=True)
class Item:
    name: str
    title: str
    kind: str
    how: str  # the SQL statement, or how a source was read
    rows: list[dict[str, Any]]
    parameters: dict[str, Any] = field(default_factory=dict)
    available: bool = True
    unavailable: str = ""

    @property
    def digest(self) -> str:
        return rows_digest(self.rows)

    def evidence(self) -> Evidence:
        return Evidence(self.name, self.rows, self.available, self.unavailable)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "kind": self.kind,
            "how": self.how,
            "parameters": self.parameters,
            "available": self.available,
            "unavailable": self.unavailable,
            "rows": self.rows,
            "rows_sha256": self.digest,
        }

    @classmethod
    def from_json(cls, doc: Any, where: str) -> Item:
        """An item read back from a pack; its recorded hash must match its rows."""
        try:
            item = cls(
                name=str(doc["name"]),
                title=str(doc["title"]),
                kind=str(doc["kind"]),
                how=str(doc["how"]),
                rows=[dict(row) for row in doc["rows"]],
                parameters=dict(doc["parameters"]),
                available=bool(doc["available"]),
                unavailable=str(doc["unavailable"]),
            )
            recorded = str(doc["rows_sha256"])
        except (KeyError, TypeError, ValueError) as exc:
            raise FormatError(f"{where}: not an evidence item ({exc})") from exc
        if item.digest != recorded:
            raise FormatError(
                f"{where}: its rows hash to {item.digest[:16]}…, not the recorded {recorded[:16]}…"
            )
        return item
