"""The `audit_events` columns, defined once: which body field each comes from, how it is
derived in Python and in ClickHouse SQL, how it is inserted and how the verifier reads it
back.

`EVENT_COLUMNS` is the single definition. Each column carries its Python derivation
(`derive`) and, beside it, the same derivation as a SQL expression (`sql`) over the body
fields it names as `{dotted.path}`. The sink lets ClickHouse parse the sealed bytes and
computes the columns with the SQL (`clickhouse.ingest` builds the materialized view from
it); the verifier recomputes the verified columns from the stored body with the Python
(`compared_columns`) and selects them from the store (`compared_sql`) so that both sides
hold the same plain values: times as integer microseconds (retain_until in seconds),
enums as their names. `row` builds the same row in Python (tests, benchmarks, and the
reference the view is checked against); `skeleton_row` the row of an expired entry.

Values a column type cannot hold are clamped the same way on both sides (times to the
range of DateTime64, retain_until to DateTime's, severity to UInt8), and a payload that
is not UTF-8 is shown as `base64:` and its base64 (ClickHouse's `toValidUTF8` cannot be
mirrored: it drops valid bytes after a bad lead byte), so a crafted body never makes the
two derivations disagree.
"""

from __future__ import annotations

import base64
import datetime as dt
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from auditstream.core.body import decode_body
from auditstream.proto.v1 import log_entry_pb2 as pb
from auditstream.proto.v1 import sealed_pb2 as sealed

EPOCH: Final = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
# DateTime64's range, [1900-01-01, 2299-12-31 23:59:59.999999], and DateTime's.
MIN_SECONDS: Final = -2_208_988_800
MAX_SECONDS: Final = 10_413_791_999
MIN_MICROS: Final = MIN_SECONDS * 1_000_000
MAX_MICROS: Final = MAX_SECONDS * 1_000_000 + 999_999
MAX_DATETIME: Final = 2**32 - 1
REF: Final = re.compile(r"\{([a-z_][a-z0-9_.]*)\}")


class _Names(dict[int, str]):
    """Enum names by number; an unknown number is its decimal text."""

    def __missing__(self, number: int) -> str:
        return str(number)


def _names(enum: Any) -> _Names:
    return _Names({v.number: v.name for v in enum.DESCRIPTOR.values})


_EVENT_TYPES: Final = _names(pb.EventType)
_OUTCOMES: Final = _names(pb.Outcome)


def _clamp(value: int, low: int, high: int) -> int:
    return low if value < low else high if value > high else value


def _micros(ts: Any) -> int:
    seconds = _clamp(ts.seconds, MIN_SECONDS, MAX_SECONDS)
    return _clamp(seconds * 1_000_000 + ts.nanos // 1000, MIN_MICROS, MAX_MICROS)


def _micros_many(stamps: Sequence[Any]) -> list[int]:
    seconds = list(map(operator.attrgetter("seconds"), stamps))
    if seconds and (min(seconds) < MIN_SECONDS or max(seconds) > MAX_SECONDS):
        return list(map(_micros, stamps))
    nanos = map(operator.attrgetter("nanos"), stamps)
    micros = [s * 1_000_000 + n // 1000 for s, n in zip(seconds, nanos, strict=True)]
    if micros and (min(micros) < MIN_MICROS or max(micros) > MAX_MICROS):
        return [_clamp(m, MIN_MICROS, MAX_MICROS) for m in micros]
    return micros


def _micros_sql(path: str) -> str:
    seconds, nanos = f"{{{path}.seconds}}", f"{{{path}.nanos}}"
    return (
        f"least(greatest(least(greatest({seconds}, {MIN_SECONDS}), {MAX_SECONDS}) * 1000000 "
        f"+ intDiv({nanos}, 1000) - ({nanos} % 1000 < 0), {MIN_MICROS}), {MAX_MICROS})"
    )


def _clamped_many(low: int, high: int) -> Callable[[Sequence[int]], list[int]]:
    """`_clamp` over many values; one pass of min/max when none needs clamping."""

    def many(values: Sequence[int]) -> list[int]:
        if not values or (min(values) >= low and max(values) <= high):
            return list(values)
        return [_clamp(v, low, high) for v in values]

    return many


def _at_micros(micros: int) -> dt.datetime:
    return EPOCH + dt.timedelta(microseconds=micros)


def _at_seconds(seconds: int) -> dt.datetime:
    return EPOCH + dt.timedelta(seconds=seconds)


def _model(ai: pb.AiInteraction) -> str:
    return ai.request_model or ai.response_model


def _safety(ai: pb.AiInteraction) -> bool | None:
    return ai.safety_passed if ai.HasField("safety_passed") else None


def _kinds(detections: Sequence[sealed.Detection]) -> list[str]:
    return sorted({d.kind for d in detections}) if detections else []


def _subject_digests(indexes: Sequence[sealed.BlindIndex]) -> list[str]:
    return [index.digest.hex() for index in indexes if index.field == "subject"]


def _actor_digest(indexes: Sequence[sealed.BlindIndex]) -> str:
    return next((index.digest.hex() for index in indexes if index.field == "actor_id"), "")


def _digests_sql(field: str) -> str:
    return (
        f"arrayFilter((d, f) -> f = '{field}', {{protected.indexes.digest}}, "
        "{protected.indexes.field})"
    )


def _non_negative(value: int) -> int:
    return max(value, 0)


def _uint8(value: int) -> int:
    return _clamp(value, 0, 255)


def _datetime_seconds(value: int) -> int:
    return _clamp(value, 0, MAX_DATETIME)


def _text(data: bytes) -> str:
    """`data` as text when it is UTF-8, else `base64:` and its base64 (binary payloads)."""
    try:
        return data.decode()
    except UnicodeDecodeError:
        return "base64:" + base64.b64encode(data).decode()


@dataclass(frozen=True, slots=True)
class Column:
    """One queryable column of `audit_events`.

    source     dotted path of the SealedBody field the value comes from
    derive     turns that field into the compared value (default: the field as is)
    sql        the same derivation in ClickHouse SQL over `{dotted.path}` body fields
               (default: the source field as is); its value is what is inserted
    insert     turns the compared value into what is inserted (default: as is)
    read_sql   how the verifier selects it so that it equals the compared value
    verified   compared with the body by the verifier (content columns expire)
    empty      what a row of an entry whose content expired holds
    many       `derive` over many fields at once, when that is faster than one by one
    """

    name: str
    source: str
    derive: Callable[[Any], Any] | None = None
    sql: str = ""
    insert: Callable[[Any], Any] | None = None
    read_sql: str = ""
    verified: bool = True
    empty: Any = ""
    many: Callable[[Sequence[Any]], list[Any]] | None = None

    @property
    def expression(self) -> str:
        """`sql`, or the source field itself."""
        return self.sql or f"{{{self.source}}}"

    def value(self, body: sealed.SealedBody) -> Any:
        field = _getter(self.source)(body)
        return field if self.derive is None else self.derive(field)

    def values(self, fields: Sequence[Any]) -> list[Any]:
        """The compared values of many source fields."""
        if self.many is not None:
            return self.many(fields)
        if self.derive is None:
            return list(fields)
        return list(map(self.derive, fields))

    def inserted(self, body: sealed.SealedBody) -> Any:
        value = self.value(body)
        return value if self.insert is None else self.insert(value)


_GETTERS: dict[str, Callable[[Any], Any]] = {}


def _getter(path: str) -> Callable[[Any], Any]:
    getter = _GETTERS.get(path)
    if getter is None:
        getter = _GETTERS[path] = operator.attrgetter(path)
    return getter


def _time(name: str, source: str) -> Column:
    return Column(
        name,
        source,
        _micros,
        f"fromUnixTimestamp64Micro({_micros_sql(source)}, 'UTC')",
        _at_micros,
        f"toUnixTimestamp64Micro({name})",
        empty=EPOCH,
        many=_micros_many,
    )


def _enum(name: str, source: str, names: _Names) -> Column:
    numbers = ", ".join(str(n) for n in names)
    texts = ", ".join(f"'{t}'" for t in names.values())
    field = f"{{{source}}}"
    return Column(
        name,
        source,
        names.__getitem__,
        f"transform({field}, CAST([{numbers}] AS Array(Int32)), [{texts}], toString({field}))",
        many=lambda numbers: list(map(names.__getitem__, numbers)),
    )


def _uint8_column(name: str, source: str) -> Column:
    sql = f"toUInt8(least(greatest({{{source}}}, 0), 255))"
    return Column(name, source, _uint8, sql, empty=0, many=_clamped_many(0, 255))


def _tokens(name: str, source: str) -> Column:
    sql = f"toUInt64(greatest(ifNull({{{source}}}, 0), 0))"
    return Column(name, source, _non_negative, sql, empty=0, many=_clamped_many(0, 2**63))


def _list(name: str, source: str) -> Column:
    return Column(name, source, list, empty=[], many=lambda fields: list(map(list, fields)))


EVENT_COLUMNS: Final[tuple[Column, ...]] = (
    Column("event_id", "entry.event_id"),
    _time("event_time", "entry.event_time"),
    _time("received_time", "received_time"),
    _enum("event_type", "entry.event_type", _EVENT_TYPES),
    _enum("outcome", "entry.outcome", _OUTCOMES),
    _uint8_column("severity", "entry.severity"),
    _uint8_column("sensitivity", "entry.sensitivity"),
    Column("actor_id", "entry.actor_id"),
    Column("actor_type", "entry.actor_type"),
    Column("component", "entry.component"),
    Column("environment", "entry.environment"),
    Column("resource", "entry.resource"),
    Column("action", "entry.action"),
    _list("policy_tags", "entry.policy_tags"),
    Column("duration_ms", "entry.duration_ms", empty=0.0),
    Column("trace_id", "entry.trace_id"),
    Column("session_id", "entry.session_id"),
    Column("ai_provider", "entry.ai.provider"),
    Column(
        "ai_model",
        "entry.ai",
        _model,
        "if({entry.ai.request_model} != '', {entry.ai.request_model}, {entry.ai.response_model})",
    ),
    _tokens("ai_input_tokens", "entry.ai.input_tokens"),
    _tokens("ai_output_tokens", "entry.ai.output_tokens"),
    Column("ai_conversation_id", "entry.ai.conversation_id"),
    Column("ai_safety_passed", "entry.ai", _safety, "{entry.ai.safety_passed}", empty=None),
    Column("ai_block_reason", "entry.ai.block_reason"),
    Column("mcp_tool_name", "entry.mcp.tool_name"),
    Column("change_resource_type", "entry.change.resource_type"),
    Column("change_resource_id", "entry.change.resource_id"),
    _list("validation_issues", "entry.validation_issues"),
    Column(
        "detections",
        "classification.detections",
        _kinds,
        "arraySort(arrayDistinct({classification.detections.kind}))",
        empty=[],
    ),
    Column("retention_class", "classification.retention_class"),
    Column(
        "retain_until",
        "classification.retain_until.seconds",
        _datetime_seconds,
        "toDateTime(least(greatest({classification.retain_until.seconds}, 0), "
        f"{MAX_DATETIME}), 'UTC')",
        _at_seconds,
        "toUnixTimestamp(retain_until)",
        empty=EPOCH,
        many=_clamped_many(0, MAX_DATETIME),
    ),
    Column("legal_hold", "classification.legal_hold", empty=False),
    Column(
        "subject_digests",
        "protected.indexes",
        _subject_digests,
        f"arrayMap(d -> lower(hex(d)), {_digests_sql('subject')})",
        empty=[],
    ),
    Column(
        "actor_digest",
        "protected.indexes",
        _actor_digest,
        f"lower(hex(arrayElement({_digests_sql('actor_id')}, 1)))",
    ),
    Column("message", "entry.message", verified=False),
    Column(
        "payload",
        "entry.payload",
        _text,
        "if(isValidUTF8({entry.payload}), {entry.payload}, "
        "concat('base64:', base64Encode({entry.payload})))",
        verified=False,
    ),
)
# The chain position of a row; `tenant_id` comes from the body, the rest from the entry.
SKELETON: Final = (
    "tenant_id",
    "chain_id",
    "seq",
    "prev_hash",
    "body_digest",
    "entry_hash",
    "key_id",
    "mac",
)
TENANT_SOURCE: Final = "entry.tenant_id"
COLUMNS: Final = (*SKELETON, *(c.name for c in EVENT_COLUMNS), "body")
_VERIFIED: Final = tuple(c for c in EVENT_COLUMNS if c.verified)
VERIFIED: Final = tuple(c.name for c in _VERIFIED)
CHECKPOINT_COLUMNS: Final = (
    "tenant_id",
    "chain_id",
    "tree_size",
    "root_hash",
    "key_name",
    "note",
    "created_time",
)


def row(entry: sealed.SealedEntry) -> list[Any]:
    """The `audit_events` row of a sealed entry, in `COLUMNS` order."""
    body = decode_body(entry.body)
    return [
        body.entry.tenant_id, entry.chain_id, entry.seq, entry.prev_hash, entry.body_digest,
        entry.entry_hash, entry.key_id, entry.mac,
        *(column.inserted(body) for column in EVENT_COLUMNS),
        entry.body,
    ]  # fmt: skip


def skeleton_row(entry: sealed.SealedEntry, tenant_id: str, **known: Any) -> list[Any]:
    """The row of an entry whose content is gone: its skeleton, every event column at its
    `empty` value except those given in `known`, and no body."""
    values = {column.name: column.empty for column in EVENT_COLUMNS} | known
    return [
        tenant_id, entry.chain_id, entry.seq, entry.prev_hash, entry.body_digest,
        entry.entry_hash, entry.key_id, entry.mac,
        *(values[column.name] for column in EVENT_COLUMNS),
        b"",
    ]  # fmt: skip


def compared_columns(bodies: Sequence[sealed.SealedBody]) -> dict[str, list[Any]]:
    """The verified columns of many bodies, column by column, as `compared_sql` reads
    them from the store. Each field along a source path is read once for all bodies."""
    fields: dict[str, list[Any]] = {"": list(bodies)}

    def at(path: str) -> list[Any]:
        found = fields.get(path)
        if found is None:
            parent, _, name = path.rpartition(".")
            found = fields[path] = list(map(operator.attrgetter(name), at(parent)))
        return found

    return {column.name: column.values(at(column.source)) for column in _VERIFIED}


def compared_row(body: sealed.SealedBody) -> dict[str, Any]:
    """The verified columns of one body."""
    return {column.name: column.value(body) for column in _VERIFIED}


def compared_sql(names: Sequence[str]) -> list[str]:
    """SELECT expressions that read the named columns as `compared_columns` holds them."""
    by_name: Mapping[str, Column] = {column.name: column for column in EVENT_COLUMNS}
    return [by_name[name].read_sql or name for name in names]


def references(expression: str) -> list[str]:
    """The body fields a column's SQL names, in order of first use."""
    return list(dict.fromkeys(REF.findall(expression)))


def checkpoint_row(checkpoint: sealed.Checkpoint) -> list[Any]:
    return [
        checkpoint.chain_id.split("/", 1)[0], checkpoint.chain_id, checkpoint.tree_size,
        checkpoint.root_hash, checkpoint.key_name, checkpoint.note.decode(),
        _at_micros(_micros(checkpoint.created_time)),
    ]  # fmt: skip
