"""Exports of a whole search result set, streamed page by page: CSV and JSON.

Stored strings come from the audited services, so a CSV cell that a spreadsheet would
run as a formula (starting with = + - @, a tab or a carriage return) gets a leading
apostrophe (OWASP's advice against CSV injection). The JSON export is exact.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from collections.abc import Iterator
from typing import Any

from auditstream.query.store import ENTRY_COLUMNS, AuditQuery, AuditStore

PAGE = 5_000
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def pages(store: AuditStore, query: AuditQuery) -> Iterator[list[dict[str, Any]]]:
    """Every page of `query`'s results, from its cursor (or the newest) on."""
    query = dataclasses.replace(query, limit=PAGE)
    while True:
        page = store.query(query)
        yield page.rows
        if page.next_cursor is None:
            return
        query = dataclasses.replace(query, cursor=page.next_cursor)


def cell(value: Any) -> str:
    if isinstance(value, list):
        text = ",".join(str(v) for v in value)
    else:
        text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def csv_chunks(store: AuditStore, query: AuditQuery) -> Iterator[str]:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(ENTRY_COLUMNS)
    for rows in pages(store, query):
        writer.writerows([cell(row[c]) for c in ENTRY_COLUMNS] for row in rows)
        yield out.getvalue()
        out.seek(0)
        out.truncate()
    yield out.getvalue()


def json_chunks(store: AuditStore, query: AuditQuery) -> Iterator[str]:
    """One JSON array of row objects."""
    first = True
    yield "["
    for rows in pages(store, query):
        if rows:
            yield ("\n" if first else ",\n") + ",\n".join(json.dumps(row) for row in rows)
            first = False
    yield "\n]\n"
