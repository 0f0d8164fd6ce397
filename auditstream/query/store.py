"""`AuditStore`: reading audit events back, always within the caller's tenants.

The store is built with the tenants its caller may see (`tenants=None` for an operator
with the DSN). Every query it runs is restricted to those tenants by the store itself;
asking for another tenant raises `AccessDeniedError`.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from auditstream.clickhouse import schema
from auditstream.clickhouse.client import ClickHouseClient
from auditstream.clickhouse.sql import ident
from auditstream.errors import AuditStreamError, QueryError
from auditstream.proto.v1 import log_entry_pb2 as pb
from auditstream.query.named import QUERIES

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
FAR_FUTURE = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)
ENTRY_COLUMNS = (
    "event_id",
    "event_time",
    "received_time",
    "tenant_id",
    "chain_id",
    "seq",
    "event_type",
    "outcome",
    "severity",
    "sensitivity",
    "actor_id",
    "actor_type",
    "component",
    "environment",
    "resource",
    "action",
    "message",
    "policy_tags",
    "retention_class",
    "retain_until",
    "legal_hold",
    "detections",
    "ai_provider",
    "ai_model",
    "mcp_tool_name",
    "trace_id",
)

# Columns the sink's clear copies of protected fields overlay (audit_personal).
PERSONAL_COLUMNS = ("actor_id", "resource", "message")

READING_KEYWORDS = ("SELECT", "WITH", "SHOW", "DESCRIBE", "DESC", "EXISTS", "EXPLAIN")
# Leading whitespace, comments and parentheses, then a reading keyword as a whole word.
READING_STATEMENT = re.compile(
    r"\A(?:\s+|--[^\n]*\n|/\*.*?\*/|\()*(?:" + "|".join(READING_KEYWORDS) + r")\b",
    re.IGNORECASE | re.DOTALL,
)
INTO_OUTFILE = re.compile(r"\bINTO\s+OUTFILE\b", re.IGNORECASE)
# What verifying one stored entry needs besides ENTRY_COLUMNS: its skeleton, body and
# content columns as stored, and the verified columns read the way the verifier compares
# them (prefixed, so that the aliases never shadow the columns in WHERE).
STORED = "stored_"
SEALED_COLUMNS = (
    "prev_hash",
    "body_digest",
    "entry_hash",
    "key_id",
    "body",
    "payload",
    *(
        f"{expr} AS {STORED}{name}"
        for name, expr in zip(schema.VERIFIED, schema.compared_sql(schema.VERIFIED), strict=True)
    ),
)


class AccessDeniedError(AuditStreamError):
    """The caller asked for a tenant outside its scope, or raw SQL that writes."""


@dataclass(frozen=True)
class AuditQuery:
    tenant: str | None = None
    actor: str | None = None
    resource: str | None = None
    event_types: Sequence[str | int] = ()
    outcome: str | int | None = None
    min_severity: str | int | None = None
    min_sensitivity: str | int | None = None
    policy_tags: Sequence[str] = ()
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    text: str | None = None
    subject_digest: str | None = None  # blind index of a data subject (hex)
    limit: int = 100
    cursor: str | None = None


@dataclass
class Page:
    rows: list[dict[str, Any]]
    next_cursor: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _enum_name(enum: Any, value: str | int, prefix: str) -> str:
    if isinstance(value, int):
        return str(enum.Name(value))
    name = value.upper()
    names = enum.DESCRIPTOR.values_by_name
    if name in names:
        return name
    if prefix + name in names:
        return prefix + name
    raise QueryError(f"unknown value {value!r}")


# AuditQuery fields that take enum values: the enum and the prefix a name may omit.
ENUM_FIELDS: dict[str, tuple[Any, str]] = {
    "event_types": (pb.EventType, "EVENT_"),
    "outcome": (pb.Outcome, "OUTCOME_"),
    "min_severity": (pb.Severity, "SEVERITY_"),
    "min_sensitivity": (pb.Sensitivity, "SENSITIVITY_"),
}


def enum_choices(field_name: str) -> list[str]:
    """The value names an enum field of AuditQuery accepts (without *_UNSPECIFIED)."""
    enum = ENUM_FIELDS[field_name][0]
    return [v.name for v in enum.DESCRIPTOR.values if v.number != 0]


def check_enum(field_name: str, value: str | int) -> str:
    """The enum value name of `value` for an AuditQuery field; QueryError naming the
    field when the enum has no such value."""
    enum, prefix = ENUM_FIELDS[field_name]
    try:
        return _enum_name(enum, value, prefix)
    except (QueryError, ValueError) as exc:
        raise QueryError(f"{field_name}: unknown value {value!r}") from exc


def check_cursor(cursor: str) -> None:
    """QueryError when `cursor` is not one this store handed out."""
    _decode_cursor(cursor)


def _enum_number(enum: Any, value: str | int, prefix: str) -> int:
    return int(enum.Value(_enum_name(enum, value, prefix)))


def jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


class AuditStore:
    def __init__(
        self,
        client: ClickHouseClient,
        database: str = "auditstream",
        *,
        tenants: Iterable[str] | None = None,
        lock: threading.Lock | None = None,
    ) -> None:
        self.client = client
        self.table = f"{ident(database)}.audit_events"
        self.checkpoint_table = f"{ident(database)}.audit_checkpoints"
        self.personal_table = f"{ident(database)}.audit_personal"
        self.tenants = None if tenants is None else frozenset(tenants)
        self._lock = lock or threading.Lock()

    # -- scoping -------------------------------------------------------------------
    def _scope(self, tenant: str | None) -> tuple[str, dict[str, Any]]:
        if tenant is not None:
            if self.tenants is not None and tenant not in self.tenants:
                raise AccessDeniedError(f"tenant {tenant!r} is outside this caller's scope")
            return "tenant_id = {scope_tenant:String}", {"scope_tenant": tenant}
        if self.tenants is None:
            return "1", {}
        return "tenant_id IN {scope_tenants:Array(String)}", {"scope_tenants": sorted(self.tenants)}

    def _rows(
        self,
        sql: str,
        params: Mapping[str, Any],
        settings: Mapping[str, Any] | None = None,
        column_formats: dict[str, str | dict[str, str]] | None = None,
    ) -> list[dict[str, Any]]:
        """Rows as the client returns them (bytes stay bytes, times stay datetimes)."""
        with self._lock:
            result = self.client.query(
                sql,
                parameters=dict(params),
                settings=dict(settings or {"readonly": 1}),
                column_formats=column_formats,
            )
        names = result.column_names
        return [dict(zip(names, row, strict=True)) for row in result.result_rows]

    def _run(
        self, sql: str, params: Mapping[str, Any], settings: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        return [
            {n: jsonable(v) for n, v in row.items()} for row in self._rows(sql, params, settings)
        ]

    # -- lookups -------------------------------------------------------------------
    def get_entry(self, event_id: str, *, tenant: str | None = None) -> dict[str, Any] | None:
        scope, params = self._scope(tenant)
        rows = self._run(
            f"SELECT {', '.join(ENTRY_COLUMNS)} FROM {self.table} "  # noqa: S608 - identifiers checked
            f"WHERE {scope} AND event_id = {{event_id:String}} ORDER BY seq LIMIT 1",
            {**params, "event_id": event_id},
        )
        return self._with_personal(rows)[0] if rows else None

    def sealed_entries(
        self, event_id: str, *, chain: str | None = None, limit: int = 10
    ) -> list[dict[str, Any]]:
        """Every stored row of `event_id` in scope (normally one), each with its
        ENTRY_COLUMNS and SEALED_COLUMNS as stored: bytes as bytes, `body` included."""
        scope, params = self._scope(None)
        where = f"{scope} AND event_id = {{event_id:String}}"
        if chain is not None:
            where += " AND chain_id = {chain:String}"
            params["chain"] = chain
        return self._rows(
            f"SELECT {', '.join((*ENTRY_COLUMNS, *SEALED_COLUMNS))} FROM {self.table} "  # noqa: S608
            f"WHERE {where} ORDER BY chain_id, seq LIMIT {int(limit)}",
            {**params, "event_id": event_id},
            column_formats={"body": "bytes"},
        )

    def skeletons(self, chain_id: str, ranges: Sequence[tuple[int, int]]) -> list[dict[str, Any]]:
        """Stored (seq, prev_hash, entry_hash) of a chain in scope for the seqs in the
        inclusive `ranges`, in one query, in seq order (a seq stored twice comes twice)."""
        scope, params = self._scope(None)
        spans = []
        for i, (low, high) in enumerate(ranges):
            spans.append(f"seq BETWEEN {{low{i}:UInt64}} AND {{high{i}:UInt64}}")
            params |= {f"low{i}": low, f"high{i}": high}
        return self._rows(
            f"SELECT seq, prev_hash, entry_hash FROM {self.table} "  # noqa: S608
            f"WHERE {scope} AND chain_id = {{chain:String}} AND ({' OR '.join(spans) or '0'}) "
            "ORDER BY seq, entry_hash",
            {**params, "chain": chain_id},
        )

    def entry_hashes(self, chain_id: str, low: int, high: int) -> list[tuple[int, bytes]]:
        """(seq, stored entry_hash) of seqs `low` <= seq < `high`, one per seq, in order.
        Columns, not row dicts: a tile cache reads a whole chain through this."""
        scope, params = self._scope(None)
        with self._lock:
            result = self.client.query(
                f"SELECT seq, any(entry_hash) FROM {self.table} "  # noqa: S608
                f"WHERE {scope} AND chain_id = {{chain:String}} "
                "AND seq >= {low:UInt64} AND seq < {high:UInt64} GROUP BY seq ORDER BY seq",
                parameters={**params, "chain": chain_id, "low": low, "high": high},
                settings={"readonly": 1},
            )
        return [(int(seq), bytes(digest)) for seq, digest in result.result_rows]

    def checkpoints(self, chain_id: str, covering: int = -1) -> list[dict[str, Any]]:
        """The chain's stored checkpoints (tree_size, note, created_time) whose tree
        covers seq `covering` (all by default), smallest first. Their signatures are the
        verifier's to check: the store is not trusted."""
        scope, params = self._scope(None)
        return self._rows(
            f"SELECT tree_size, note, created_time FROM {self.checkpoint_table} "  # noqa: S608
            f"WHERE {scope} AND chain_id = {{chain:String}} AND tree_size > {{seq:Int64}} "
            "ORDER BY tree_size",
            {**params, "chain": chain_id, "seq": covering},
        )

    def chain_summaries(self) -> list[dict[str, Any]]:
        """Per chain in scope: tenant, entries, last seq, newest received time, and the
        newest stored checkpoint (tree size and time; 0 and None without one)."""
        scope, params = self._scope(None)
        chains = self._rows(
            "SELECT tenant_id, chain_id, count() AS entries, max(seq) AS last_seq, "  # noqa: S608
            f"max(received_time) AS last_received FROM {self.table} WHERE {scope} "
            "GROUP BY tenant_id, chain_id ORDER BY tenant_id, chain_id",
            params,
        )
        marks = {
            row["chain_id"]: row
            for row in self._rows(
                "SELECT chain_id, max(tree_size) AS checkpoint_size, "  # noqa: S608
                "argMax(created_time, tree_size) AS checkpoint_time "
                f"FROM {self.checkpoint_table} WHERE {scope} GROUP BY chain_id",
                params,
            )
        }
        for row in chains:
            mark = marks.get(row["chain_id"], {})
            row["checkpoint_size"] = int(mark.get("checkpoint_size", 0))
            row["checkpoint_time"] = mark.get("checkpoint_time")
        return chains

    def retention_summary(self, now: dt.datetime) -> list[dict[str, Any]]:
        """Per retention class in scope: events, events still retained at `now` (before
        retain-until, or on legal hold), the oldest retained event, the earliest and
        latest retain-until, and events on legal hold."""
        scope, params = self._scope(None)
        return self._rows(
            "SELECT retention_class, count() AS events, "  # noqa: S608
            "countIf(legal_hold OR retain_until > {now:DateTime}) AS retained, "
            "minIf(event_time, legal_hold OR retain_until > {now:DateTime}) AS oldest_retained, "
            "min(retain_until) AS first_expiry, max(retain_until) AS last_expiry, "
            f"countIf(legal_hold) AS on_hold FROM {self.table} WHERE {scope} "
            "GROUP BY retention_class ORDER BY retention_class",
            {**params, "now": now},
        )

    def legal_holds(self, limit: int = 100) -> list[dict[str, Any]]:
        """The newest events in scope under legal hold."""
        scope, params = self._scope(None)
        return self._run(
            "SELECT event_time, tenant_id, chain_id, seq, event_id, event_type, "  # noqa: S608
            f"retention_class, retain_until FROM {self.table} WHERE {scope} AND legal_hold "
            f"ORDER BY event_time DESC LIMIT {max(1, min(int(limit), 10_000))}",
            params,
        )

    def get_entries(
        self,
        start: dt.datetime,
        end: dt.datetime,
        *,
        tenant: str | None = None,
        limit: int = 1000,
        cursor: str | None = None,
    ) -> Page:
        return self.query(
            AuditQuery(tenant=tenant, start=start, end=end, limit=limit, cursor=cursor)
        )

    def query(self, q: AuditQuery) -> Page:
        scope, params = self._scope(q.tenant)
        where = [
            scope,
            "event_time >= {q_start:DateTime64(6)}",
            "event_time < {q_end:DateTime64(6)}",
        ]
        params |= {"q_start": q.start or EPOCH, "q_end": q.end or FAR_FUTURE}
        # Protected events match by the clear copies of live subjects too.
        personal = (
            "(chain_id, seq) IN (SELECT chain_id, seq "  # noqa: S608 - identifier checked
            f"FROM {self.personal_table} WHERE {scope} AND "
        )
        if q.actor:
            where.append(
                f"(actor_id = {{q_actor:String}} OR {personal}actor_id = {{q_actor:String}}))"
            )
            params["q_actor"] = q.actor
        if q.resource:
            where.append(
                f"(resource = {{q_resource:String}} OR {personal}resource = {{q_resource:String}}))"
            )
            params["q_resource"] = q.resource
        if q.subject_digest:
            where.append("has(subject_digests, {q_subject:String})")
            params["q_subject"] = q.subject_digest
        if q.event_types:
            where.append("event_type IN {q_types:Array(String)}")
            params["q_types"] = [_enum_name(pb.EventType, t, "EVENT_") for t in q.event_types]
        if q.outcome is not None:
            where.append("outcome = {q_outcome:String}")
            params["q_outcome"] = _enum_name(pb.Outcome, q.outcome, "OUTCOME_")
        if q.min_severity is not None:
            where.append("severity >= {q_severity:UInt8}")
            params["q_severity"] = _enum_number(pb.Severity, q.min_severity, "SEVERITY_")
        if q.min_sensitivity is not None:
            where.append("sensitivity >= {q_sensitivity:UInt8}")
            params["q_sensitivity"] = _enum_number(
                pb.Sensitivity, q.min_sensitivity, "SENSITIVITY_"
            )
        if q.policy_tags:
            where.append("hasAny(policy_tags, {q_tags:Array(String)})")
            params["q_tags"] = list(q.policy_tags)
        if q.text:
            found = (
                "(positionCaseInsensitive(message, {q_text:String}) > 0 "
                "OR positionCaseInsensitive(resource, {q_text:String}) > 0)"
            )
            where.append(f"({found} OR {personal}{found}))")
            params["q_text"] = q.text
        if q.cursor:
            after_time, after_id = _decode_cursor(q.cursor)
            where.append("(event_time, event_id) < ({c_time:DateTime64(6)}, {c_id:String})")
            params |= {"c_time": after_time, "c_id": after_id}
        limit = max(1, min(q.limit, 10_000))
        rows = self._run(
            f"SELECT {', '.join(ENTRY_COLUMNS)} FROM {self.table} WHERE {' AND '.join(where)} "  # noqa: S608
            f"ORDER BY event_time DESC, event_id DESC LIMIT {limit + 1}",
            params,
        )
        next_cursor = None
        if len(rows) > limit:
            rows = rows[:limit]
            next_cursor = _encode_cursor(rows[-1]["event_time"], rows[-1]["event_id"])
        return Page(self._with_personal(rows), next_cursor)

    def _with_personal(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """`rows` with the clear copies of their protected fields, where the subject lives
        (decision 0022: audit_events holds only what the chain holds)."""
        if not rows:
            return rows
        scope, params = self._scope(None)
        copies = self._rows(
            f"SELECT chain_id, seq, {', '.join(PERSONAL_COLUMNS)} FROM {self.personal_table} "  # noqa: S608
            f"WHERE {scope} AND (chain_id, seq) IN {{keys:Array(Tuple(String, UInt64))}} "
            "LIMIT 1 BY chain_id, seq",
            {**params, "keys": [(r["chain_id"], int(r["seq"])) for r in rows]},
        )
        found = {(c.pop("chain_id"), int(c.pop("seq"))): c for c in copies}
        for row in rows:
            copy = found.get((row["chain_id"], int(row["seq"])))
            if copy is not None:
                row.update({k: v for k, v in copy.items() if v})
        return rows

    # -- named queries -------------------------------------------------------------
    def named(
        self, name: str, params: Mapping[str, Any] | None = None, *, tenant: str | None = None
    ) -> list[dict[str, Any]]:
        query = QUERIES.get(name)
        if query is None:
            raise QueryError(f"unknown query {name!r}; known: {', '.join(sorted(QUERIES))}")
        given = dict(params or {})
        unknown = set(given) - {p.name for p in query.params}
        if unknown:
            raise QueryError(f"query {name!r} takes no parameter {sorted(unknown)}")
        bound: dict[str, Any] = {}
        for param in query.params:
            if param.name in given:
                try:
                    bound[param.name] = _coerce(param.type, given[param.name])
                except (ValueError, TypeError) as exc:
                    raise QueryError(
                        f"query {name!r}: parameter {param.name!r} must be "
                        f"{_KIND_TEXT.get(param.type[:4], param.type)}, not {given[param.name]!r}"
                    ) from exc
            elif param.required:
                raise QueryError(f"query {name!r} needs the parameter {param.name!r}")
            elif param.name == "start":
                bound["start"] = EPOCH
            elif param.name == "end":
                bound["end"] = FAR_FUTURE
            else:
                bound[param.name] = param.default
        scope, scope_params = self._scope(tenant)
        # Not str.format: the SQL's own {name:Type} parameters must stay as they are.
        sql = query.sql.replace("{table}", self._events_for(scope)).replace("{scope}", scope)
        return self._run(sql, {**bound, **scope_params})

    def _events_for(self, scope: str) -> str:
        """What named queries read: audit_events, with the clear copies of live subjects'
        protected fields in place when the store holds any (decision 0022)."""
        if not self._rows(f"SELECT 1 FROM {self.personal_table} LIMIT 1", {}):  # noqa: S608
            return self.table
        overlay = ", ".join(f"if(p.{c} != '', p.{c}, e.{c}) AS {c}" for c in PERSONAL_COLUMNS)
        return (
            f"(SELECT e.* REPLACE ({overlay}) FROM {self.table} AS e "  # noqa: S608
            f"LEFT ANY JOIN (SELECT chain_id, seq, {', '.join(PERSONAL_COLUMNS)} "
            f"FROM {self.personal_table} WHERE {scope} LIMIT 1 BY chain_id, seq) AS p "
            "ON e.chain_id = p.chain_id AND e.seq = p.seq)"
        )

    def sql(self, statement: str) -> list[dict[str, Any]]:
        """Raw SQL, read-only, for operators holding the DSN. Not tenant scoped, so scoped
        stores refuse it.

        Only reading statements are sent, and with `readonly = 1`. The statement check
        comes first because embedded ClickHouse (chdb) keeps a refused write's
        `readonly` in its session: every later write of the process would fail."""
        if self.tenants is not None:
            raise AccessDeniedError("raw SQL is not available to tenant-scoped callers")
        if not READING_STATEMENT.match(statement):
            raise AccessDeniedError(
                "raw SQL is read-only: the statement must start with " + ", ".join(READING_KEYWORDS)
            )
        if INTO_OUTFILE.search(statement):  # readonly = 1 allows it, and chdb writes locally
            raise AccessDeniedError("raw SQL is read-only: INTO OUTFILE is refused")
        return self._run(statement, {}, settings={"readonly": 1})


_KIND_TEXT = {"Date": "an ISO 8601 time", "UInt": "a whole number (or a sensitivity name)"}


def _coerce(kind: str, value: Any) -> Any:
    if kind.startswith("DateTime"):
        if isinstance(value, dt.datetime):
            return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        parsed = dt.datetime.fromisoformat(str(value))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
    if kind.startswith("UInt"):
        if isinstance(value, str) and not value.isdigit():
            return _enum_number(pb.Sensitivity, value, "SENSITIVITY_")
        return int(value)
    return str(value)


def _encode_cursor(event_time: str, event_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([event_time, event_id]).encode()).decode()


def _decode_cursor(cursor: str) -> tuple[dt.datetime, str]:
    try:
        event_time, event_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        parsed = dt.datetime.fromisoformat(event_time)
    except (ValueError, TypeError) as exc:
        raise QueryError("cursor: not a cursor this API handed out") from exc
    return parsed, str(event_id)
