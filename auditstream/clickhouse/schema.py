"""The `audit_events` columns, defined once: which body field each comes from, how it is
derived, how it is inserted and how the verifier reads it back.

`EVENT_COLUMNS` is the single definition. The sink builds rows from it (`row`), replay
builds rows of expired entries from it (`skeleton_row`), and the verifier recomputes the
verified columns from the stored body (`compared_columns`) and selects them from the
store (`compared_sql`) so that both sides hold the same plain values: times as integer
microseconds (retain_until in seconds), enums as their names.
"""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from auditstream.core.body import decode_body
from auditstream.proto.v1 import log_entry_pb2 as pb
from auditstream.proto.v1 import sealed_pb2 as sealed

EPOCH: Final = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_EVENT_TYPES: Final = {v.number: v.name for v in pb.EventType.DESCRIPTOR.values}
_OUTCOMES: Final = {v.number: v.name for v in pb.Outcome.DESCRIPTOR.values}


def _micros(ts: Any) -> int:
    return int(ts.seconds * 1_000_000 + ts.nanos // 1000)


def _at_micros(micros: int) -> dt.datetime:
    return EPOCH + dt.timedelta(microseconds=micros)


def _at_seconds(seconds: int) -> dt.datetime:
    return EPOCH + dt.timedelta(seconds=seconds)


def _model(ai: pb.AiInteraction) -> str:
    return ai.request_model or ai.response_model


def _safety(ai: pb.AiInteraction) -> bool | None:
    return ai.safety_passed if ai.HasField("safety_passed") else None


def _kinds(detections: Sequence[sealed.Detection]) -> list[str]:
    return sorted({d.kind for d in detections})


def _non_negative(value: int) -> int:
    return max(value, 0)


def _text(data: bytes) -> str:
    return data.decode("utf-8", "replace")


@dataclass(frozen=True, slots=True)
class Column:
    """One queryable column of `audit_events`.

    source     dotted path of the SealedBody field the value comes from
    derive     turns that field into the compared value (default: the field as is)
    insert     turns the compared value into what is inserted (default: as is)
    read_sql   how the verifier selects it so that it equals the compared value
    verified   compared with the body by the verifier (content columns expire)
    empty      what a row of an entry whose content expired holds
    """

    name: str
    source: str
    derive: Callable[[Any], Any] | None = None
    insert: Callable[[Any], Any] | None = None
    read_sql: str = ""
    verified: bool = True
    empty: Any = ""

    def value(self, body: sealed.SealedBody) -> Any:
        field = _getter(self.source)(body)
        return field if self.derive is None else self.derive(field)

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
        _at_micros,
        f"toUnixTimestamp64Micro({name})",
        empty=EPOCH,
    )


EVENT_COLUMNS: Final[tuple[Column, ...]] = (
    Column("event_id", "entry.event_id"),
    _time("event_time", "entry.event_time"),
    _time("received_time", "received_time"),
    Column("event_type", "entry.event_type", lambda n: _EVENT_TYPES.get(n, str(n))),
    Column("outcome", "entry.outcome", lambda n: _OUTCOMES.get(n, str(n))),
    Column("severity", "entry.severity", empty=0),
    Column("sensitivity", "entry.sensitivity", empty=0),
    Column("actor_id", "entry.actor_id"),
    Column("actor_type", "entry.actor_type"),
    Column("component", "entry.component"),
    Column("environment", "entry.environment"),
    Column("resource", "entry.resource"),
    Column("action", "entry.action"),
    Column("policy_tags", "entry.policy_tags", list, empty=[]),
    Column("duration_ms", "entry.duration_ms", empty=0.0),
    Column("trace_id", "entry.trace_id"),
    Column("session_id", "entry.session_id"),
    Column("ai_provider", "entry.ai.provider"),
    Column("ai_model", "entry.ai", _model),
    Column("ai_input_tokens", "entry.ai.input_tokens", _non_negative, empty=0),
    Column("ai_output_tokens", "entry.ai.output_tokens", _non_negative, empty=0),
    Column("ai_conversation_id", "entry.ai.conversation_id"),
    Column("ai_safety_passed", "entry.ai", _safety, empty=None),
    Column("ai_block_reason", "entry.ai.block_reason"),
    Column("mcp_tool_name", "entry.mcp.tool_name"),
    Column("change_resource_type", "entry.change.resource_type"),
    Column("change_resource_id", "entry.change.resource_id"),
    Column("validation_issues", "entry.validation_issues", list, empty=[]),
    Column("detections", "classification.detections", _kinds, empty=[]),
    Column("retention_class", "classification.retention_class"),
    Column(
        "retain_until",
        "classification.retain_until.seconds",
        insert=_at_seconds,
        read_sql="toUnixTimestamp(retain_until)",
        empty=EPOCH,
    ),
    Column("legal_hold", "classification.legal_hold", empty=False),
    Column("message", "entry.message", verified=False),
    Column("payload", "entry.payload", _text, verified=False),
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
    them from the store."""
    return {column.name: [column.value(body) for body in bodies] for column in _VERIFIED}


def compared_sql(names: Sequence[str]) -> list[str]:
    """SELECT expressions that read the named columns as `compared_columns` holds them."""
    by_name: Mapping[str, Column] = {column.name: column for column in EVENT_COLUMNS}
    return [by_name[name].read_sql or name for name in names]


def checkpoint_row(checkpoint: sealed.Checkpoint) -> list[Any]:
    return [
        checkpoint.chain_id.split("/", 1)[0], checkpoint.chain_id, checkpoint.tree_size,
        checkpoint.root_hash, checkpoint.key_name, checkpoint.note.decode(),
        _at_micros(_micros(checkpoint.created_time)),
    ]  # fmt: skip
