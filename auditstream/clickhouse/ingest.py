"""The insert path of `audit_events`: ClickHouse parses the sealed entries itself.

Each sealed entry goes to ClickHouse as the bytes Kafka delivered, followed by its body
a second time as field 100 (`IngestRow.sealed`), which the format schema declares as a
SealedBody message: the protobuf wire format encodes bytes and embedded messages alike,
so ClickHouse stores the exact body in `body` and parses the same bytes into columns.
`FORMAT Protobuf` reads the rows into a Null table whose materialized view computes every
`audit_events` column with the SQL of `schema.EVENT_COLUMNS`. Python only frames bytes.

The format schema travels with each insert to a server (`format_schema_source =
'string'`, ClickHouse 25.6 or later), so nothing has to be put on its disk. Embedded
ClickHouse (chdb) would cache such a schema in the process's working directory; there
the schema is written into the store's own folder once and named by absolute path.
It is generated from the project's descriptors: only the fields the columns name, with
their field numbers, and enums as int32 (an unknown number parses like a known one).

The Null table and its view are named after a fingerprint of the schema and the SQL.
`ensure` (run by `migrate`) creates the current pair and drops older ones, so a changed
mapping never runs through a stale view: a sink of an older version fails on its
missing table instead.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from array import array
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import DecodeError

from auditstream.clickhouse import schema
from auditstream.clickhouse.client import ClickHouseClient
from auditstream.clickhouse.sql import ident
from auditstream.errors import ConfigError
from auditstream.proto.v1 import sealed_pb2 as sealed

if TYPE_CHECKING:
    from auditstream.clickhouse.migrations import Target

MESSAGE: Final = "IngestRow"
BODY_FIELD: Final = "sealed"
BODY_NUMBER: Final = 100
PREFIX: Final = "audit_events_ingest_"

# Descriptors are upb or pure-Python objects depending on the protobuf backend.
Descriptor = Any
Field = Any
_PROTO_TYPES: Final = {
    FieldDescriptor.TYPE_DOUBLE: ("double", "Float64"),
    FieldDescriptor.TYPE_FLOAT: ("float", "Float32"),
    FieldDescriptor.TYPE_INT64: ("int64", "Int64"),
    FieldDescriptor.TYPE_UINT64: ("uint64", "UInt64"),
    FieldDescriptor.TYPE_INT32: ("int32", "Int32"),
    FieldDescriptor.TYPE_FIXED64: ("fixed64", "UInt64"),
    FieldDescriptor.TYPE_FIXED32: ("fixed32", "UInt32"),
    FieldDescriptor.TYPE_BOOL: ("bool", "Bool"),
    FieldDescriptor.TYPE_STRING: ("string", "String"),
    FieldDescriptor.TYPE_BYTES: ("bytes", "String"),
    FieldDescriptor.TYPE_UINT32: ("uint32", "UInt32"),
    FieldDescriptor.TYPE_ENUM: ("int32", "Int32"),
    FieldDescriptor.TYPE_SFIXED32: ("sfixed32", "Int32"),
    FieldDescriptor.TYPE_SFIXED64: ("sfixed64", "Int64"),
    FieldDescriptor.TYPE_SINT32: ("sint32", "Int32"),
    FieldDescriptor.TYPE_SINT64: ("sint64", "Int64"),
}


def column_name(path: str) -> str:
    """The Null-table column ClickHouse fills from body field `path`."""
    return f"{BODY_FIELD}_{path.replace('.', '_')}"


def _column_type(fields: Sequence[Field], path: str) -> str:
    leaf = fields[-1]
    if leaf.type == FieldDescriptor.TYPE_MESSAGE:
        raise ConfigError(f"column SQL names {path!r}, a message, not a field of one")
    base = _PROTO_TYPES[leaf.type][1]
    repeated = [f for f in fields if f.is_repeated]
    if len(repeated) > 1:
        raise ConfigError(f"{path!r} is repeated inside a repeated field")
    if leaf.has_presence:
        if repeated:
            raise ConfigError(f"{path!r} is optional inside a repeated field")
        return f"Nullable({base})"
    return f"Array({base})" if repeated else base


class _Layout:
    """What the column SQL needs of the body: the messages and fields of the format
    schema, and the Null table's columns."""

    def __init__(self, paths: Iterable[str]) -> None:
        self.messages: dict[str, tuple[Descriptor, dict[str, Field]]] = {}
        self.columns: dict[str, str] = {}
        root = sealed.SealedBody.DESCRIPTOR
        self._use(root, None)
        for path in paths:
            self._add(root, path)

    def _use(self, message: Descriptor, field: Field | None) -> None:
        known = self.messages.setdefault(message.full_name, (message, {}))
        names = [m.name for m, _ in self.messages.values()]
        if names.count(message.name) > 1:
            raise ConfigError(f"two messages named {message.name!r} in the format schema")
        if field is not None:
            known[1][field.name] = field

    def _add(self, root: Descriptor, path: str) -> None:
        message, trail = root, []
        field: Field
        for part in path.split("."):
            field = message.fields_by_name.get(part)
            if field is None:
                raise ConfigError(f"column SQL names {path!r}: {message.name} has no {part!r}")
            self._use(message, field)
            trail.append(field)
            if field.type == FieldDescriptor.TYPE_MESSAGE:
                message = field.message_type
                self._use(message, None)
        self.columns[column_name(path)] = _column_type(trail, path)


def _field_line(field: Field) -> str:
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        kind = field.message_type.name
    else:
        kind = _PROTO_TYPES[field.type][0]
    label = "repeated " if field.is_repeated else ""
    if field.has_presence and field.type != FieldDescriptor.TYPE_MESSAGE:
        label = "optional "
    return f"  {label}{kind} {field.name} = {field.number};"


def _proto(layout: _Layout) -> str:
    lines = ['syntax = "proto3";', "", f"message {MESSAGE} {{"]
    lines += [_field_line(field) for field in sealed.SealedEntry.DESCRIPTOR.fields]
    lines += [f"  SealedBody {BODY_FIELD} = {BODY_NUMBER};", "}"]
    for message, fields in layout.messages.values():
        lines += ["", f"message {message.name} {{"]
        lines += [_field_line(f) for f in sorted(fields.values(), key=lambda f: f.number)]
        lines.append("}")
    return "\n".join(lines) + "\n"


def _select(columns: Sequence[schema.Column]) -> str:
    def sql(expression: str) -> str:
        return schema.REF.sub(lambda found: column_name(found.group(1)), expression)

    names = [f"{sql('{' + schema.TENANT_SOURCE + '}')} AS tenant_id", *schema.SKELETON[1:]]
    names += [f"{sql(column.expression)} AS {column.name}" for column in columns]
    return "SELECT\n    " + ",\n    ".join([*names, "body"])


_PATHS: Final = [schema.TENANT_SOURCE] + [
    path for column in schema.EVENT_COLUMNS for path in schema.references(column.expression)
]
_LAYOUT: Final = _Layout(_PATHS)
PROTO: Final = _proto(_LAYOUT)
SELECT: Final = _select(schema.EVENT_COLUMNS)
ENVELOPE_COLUMNS: Final = {
    field.name: _PROTO_TYPES[field.type][1] for field in sealed.SealedEntry.DESCRIPTOR.fields
}
INGEST_COLUMNS: Final = ENVELOPE_COLUMNS | _LAYOUT.columns
FINGERPRINT: Final = hashlib.sha256(
    "\n".join([PROTO, repr(sorted(INGEST_COLUMNS.items())), SELECT]).encode()
).hexdigest()[:12]
TABLE: Final = PREFIX + FINGERPRINT
VIEW: Final = TABLE + "_mv"
SERVER_SETTINGS: Final = {
    "format_schema": PROTO,
    "format_schema_source": "string",
    "format_schema_message_name": MESSAGE,
}


def statements(target: Target) -> list[str]:
    """The Null table and the view of the current mapping (idempotent)."""
    database = target.database
    on_cluster = f" ON CLUSTER {target.cluster}" if target.cluster else ""
    columns = ",\n    ".join(f"{name} {kind}" for name, kind in INGEST_COLUMNS.items())
    return [
        f"CREATE TABLE IF NOT EXISTS {database}.{TABLE}{on_cluster}\n(\n    {columns}\n)\n"
        "ENGINE = Null",
        # On a cluster `audit_events` is the Distributed table: rows go to their shard.
        f"CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.{VIEW}{on_cluster}\n"
        f"TO {database}.audit_events AS\n{SELECT}\nFROM {database}.{TABLE}",
    ]


def _existing(client: ClickHouseClient, database: str) -> list[str]:
    result = client.query(
        "SELECT name FROM system.tables WHERE database = {db:String} "
        "AND startsWith(name, {prefix:String})",
        parameters={"db": database, "prefix": PREFIX},
    )
    return [str(name) for (name,) in result.result_rows]


def ensure(client: ClickHouseClient, target: Target) -> None:
    """Create the current Null table and view; drop those of other mappings."""
    for statement in statements(target):
        client.command(statement)
    on_cluster = f" ON CLUSTER {target.cluster}" if target.cluster else ""
    stale = [name for name in _existing(client, target.database) if name not in (TABLE, VIEW)]
    for name in sorted(stale, key=lambda n: not n.endswith("_mv")):  # views first
        client.command(f"DROP TABLE IF EXISTS {target.database}.{ident(name)}{on_cluster}")


def require(client: ClickHouseClient, database: str) -> None:
    """Raise ConfigError unless the current Null table and view exist."""
    found = set(_existing(client, database))
    if not {TABLE, VIEW} <= found:
        raise ConfigError(
            f"database {database!r} has no ingest view for this version's column mapping "
            f"({VIEW}); run `auditstream migrate`"
        )


def insert(client: ClickHouseClient, database: str, data: bytes | bytearray) -> None:
    """Insert framed rows (`Frames.data`); ClickHouse errors propagate."""
    table = f"{ident(database)}.{TABLE}"
    client.raw_insert(table, None, bytes(data), insert_settings(client), "Protobuf")


def insert_settings(client: ClickHouseClient) -> dict[str, str]:
    """The format settings of an insert on this client (see the module docstring)."""
    if not client.uri.startswith("chdb://"):
        return SERVER_SETTINGS
    store = client.uri.removeprefix("chdb://")
    folder = Path(tempfile.gettempdir()) if store in ("", ":memory:") else Path(store)
    path = folder / "format_schemas" / f"{TABLE}.proto"
    if not path.is_file() or path.read_text() != PROTO:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(PROTO)
        partial.replace(path)
    return {"format_schema": str(path), "format_schema_message_name": MESSAGE}


def _varint(value: int) -> bytes:
    if value < 0x80:
        return _BYTES[value]
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


_BYTES: Final = [bytes((n,)) for n in range(0x80)]
_TAG: Final = _varint(BODY_NUMBER << 3 | 2)  # field 100, length-delimited


class Frames:
    """Sealed entries framed for one insert: each length-delimited, its body repeated
    as field 100. Remembers where each part lies, to take rows out after a failure."""

    __slots__ = ("_marks", "data")

    def __init__(self) -> None:
        self.data = bytearray()
        self._marks = array("q")  # per row: entry start, entry end, body start, body end

    def __len__(self) -> int:
        return len(self._marks) // 4

    def add(self, value: bytes, body: bytes) -> None:
        """Append one SealedEntry (`value`, as serialized) whose body is `body`."""
        data = self.data
        head = _varint(len(body))
        data += _varint(len(value) + len(_TAG) + len(head) + len(body))
        start = len(data)
        data += value
        data += _TAG
        data += head
        self._marks.extend((start, start + len(value), len(data), len(data) + len(body)))
        data += body

    def entry(self, index: int) -> bytes:
        """The SealedEntry bytes of row `index`, as added."""
        marks = self._marks
        return bytes(self.data[marks[4 * index] : marks[4 * index + 1]])

    def body(self, index: int) -> bytes:
        marks = self._marks
        return bytes(self.data[marks[4 * index + 2] : marks[4 * index + 3]])

    def subset(self, keep: Iterable[int]) -> Frames:
        """A new batch of the rows `keep`, in their order."""
        out = Frames()
        for index in keep:
            out.add(self.entry(index), self.body(index))
        return out


def frame_all(records: Iterable[tuple[bytes, bytes]]) -> Frames:
    """Frames of (SealedEntry bytes, its body) pairs."""
    frames = Frames()
    for value, body in records:
        frames.add(value, body)
    return frames


def unparseable(frames: Frames) -> dict[int, str]:
    """Rows whose body is not a SealedBody (what ClickHouse cannot parse), with why."""
    bad = {}
    for index in range(len(frames)):
        try:
            sealed.SealedBody.FromString(frames.body(index))
        except DecodeError as exc:
            bad[index] = f"body is not a SealedBody: {exc}"
    return bad
