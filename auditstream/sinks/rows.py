"""One sealed entry as one `audit_events` row, and back.

`event_columns(body)` is the single definition of what the queryable columns hold: the
sink writes it, and the verifier recomputes it from the stored body to prove the
columns were not edited.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any, Final

from auditstream.core.body import decode_body
from auditstream.proto.v1 import log_entry_pb2 as pb
from auditstream.proto.v1 import sealed_pb2 as sealed

UTC = dt.UTC
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
EVENT: Final = (
    "event_id",
    "event_time",
    "received_time",
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
    "policy_tags",
    "duration_ms",
    "trace_id",
    "session_id",
    "ai_provider",
    "ai_model",
    "ai_input_tokens",
    "ai_output_tokens",
    "ai_conversation_id",
    "ai_safety_passed",
    "ai_block_reason",
    "mcp_tool_name",
    "change_resource_type",
    "change_resource_id",
    "validation_issues",
    "detections",
    "retention_class",
    "retain_until",
    "legal_hold",
    "message",
    "payload",
)
COLUMNS: Final = (*SKELETON, *EVENT, "body")
CHECKPOINT_COLUMNS: Final = (
    "tenant_id",
    "chain_id",
    "tree_size",
    "root_hash",
    "key_name",
    "note",
    "created_time",
)
# Columns the verifier compares with the body. Time columns are compared at the
# precision ClickHouse keeps (microseconds; seconds for retain_until).
VERIFIED: Final = tuple(c for c in EVENT if c not in ("message", "payload"))


def _time(ts: Any, precision_us: bool = True) -> dt.datetime:
    micros = ts.seconds * 1_000_000 + ts.nanos // 1000
    if not precision_us:
        micros -= micros % 1_000_000
    return dt.datetime.fromtimestamp(micros / 1_000_000, UTC).replace(
        microsecond=micros % 1_000_000
    )


def event_columns(body: sealed.SealedBody) -> dict[str, Any]:
    """The queryable values a body stands for (message and payload included)."""
    entry = body.entry
    ai = entry.ai
    classification = body.classification
    return {
        "event_id": entry.event_id,
        "event_time": _time(entry.event_time),
        "received_time": _time(body.received_time),
        "event_type": pb.EventType.Name(entry.event_type),
        "outcome": pb.Outcome.Name(entry.outcome),
        "severity": entry.severity,
        "sensitivity": entry.sensitivity,
        "actor_id": entry.actor_id,
        "actor_type": entry.actor_type,
        "component": entry.component,
        "environment": entry.environment,
        "resource": entry.resource,
        "action": entry.action,
        "policy_tags": list(entry.policy_tags),
        "duration_ms": entry.duration_ms,
        "trace_id": entry.trace_id,
        "session_id": entry.session_id,
        "ai_provider": ai.provider,
        "ai_model": ai.request_model or ai.response_model,
        "ai_input_tokens": max(ai.input_tokens, 0),
        "ai_output_tokens": max(ai.output_tokens, 0),
        "ai_conversation_id": ai.conversation_id,
        "ai_safety_passed": ai.safety_passed if ai.HasField("safety_passed") else None,
        "ai_block_reason": ai.block_reason,
        "mcp_tool_name": entry.mcp.tool_name,
        "change_resource_type": entry.change.resource_type,
        "change_resource_id": entry.change.resource_id,
        "validation_issues": list(entry.validation_issues),
        "detections": sorted({d.kind for d in classification.detections}),
        "retention_class": classification.retention_class,
        "retain_until": _time(classification.retain_until, precision_us=False),
        "legal_hold": classification.legal_hold,
        "message": entry.message,
        "payload": entry.payload.decode("utf-8", "replace"),
    }


def verified_columns(body: sealed.SealedBody) -> dict[str, Any]:
    """The columns the verifier compares (content columns expire on their own)."""
    values = event_columns(body)
    return {name: values[name] for name in VERIFIED}


_EVENT_TYPES = {v.number: v.name for v in pb.EventType.DESCRIPTOR.values}
_OUTCOMES = {v.number: v.name for v in pb.Outcome.DESCRIPTOR.values}
# How the verifier reads the time columns back: integers, so no datetime is built.
COMPARED_SQL: Final = {
    "event_time": "toUnixTimestamp64Micro(event_time)",
    "received_time": "toUnixTimestamp64Micro(received_time)",
    "retain_until": "toUnixTimestamp(retain_until)",
}


def _micros(ts: Any) -> int:
    return int(ts.seconds * 1_000_000 + ts.nanos // 1000)


def compared_columns(bodies: Sequence[sealed.SealedBody]) -> dict[str, list[Any]]:
    """The `VERIFIED` columns of many bodies, column by column, as the verifier reads
    them from the store (`COMPARED_SQL`: times as integer microseconds, retain_until in
    seconds). Equal to `verified_columns` value for value (a unit test holds them so)."""
    entries = [b.entry for b in bodies]
    ais = [e.ai for e in entries]
    classes = [b.classification for b in bodies]
    return {
        "event_id": [e.event_id for e in entries],
        "event_time": [_micros(e.event_time) for e in entries],
        "received_time": [_micros(b.received_time) for b in bodies],
        "event_type": [_EVENT_TYPES.get(e.event_type, str(e.event_type)) for e in entries],
        "outcome": [_OUTCOMES.get(e.outcome, str(e.outcome)) for e in entries],
        "severity": [e.severity for e in entries],
        "sensitivity": [e.sensitivity for e in entries],
        "actor_id": [e.actor_id for e in entries],
        "actor_type": [e.actor_type for e in entries],
        "component": [e.component for e in entries],
        "environment": [e.environment for e in entries],
        "resource": [e.resource for e in entries],
        "action": [e.action for e in entries],
        "policy_tags": [list(e.policy_tags) if len(e.policy_tags) else [] for e in entries],
        "duration_ms": [e.duration_ms for e in entries],
        "trace_id": [e.trace_id for e in entries],
        "session_id": [e.session_id for e in entries],
        "ai_provider": [a.provider for a in ais],
        "ai_model": [a.request_model or a.response_model for a in ais],
        "ai_input_tokens": [max(a.input_tokens, 0) for a in ais],
        "ai_output_tokens": [max(a.output_tokens, 0) for a in ais],
        "ai_conversation_id": [a.conversation_id for a in ais],
        "ai_safety_passed": [a.safety_passed if a.HasField("safety_passed") else None for a in ais],
        "ai_block_reason": [a.block_reason for a in ais],
        "mcp_tool_name": [e.mcp.tool_name for e in entries],
        "change_resource_type": [e.change.resource_type for e in entries],
        "change_resource_id": [e.change.resource_id for e in entries],
        "validation_issues": [
            list(e.validation_issues) if len(e.validation_issues) else [] for e in entries
        ],
        "detections": [
            sorted({d.kind for d in c.detections}) if len(c.detections) else [] for c in classes
        ],
        "retention_class": [c.retention_class for c in classes],
        "retain_until": [c.retain_until.seconds for c in classes],
        "legal_hold": [c.legal_hold for c in classes],
    }


def row(entry: sealed.SealedEntry) -> list[Any]:
    """The `audit_events` row of a sealed entry, in `COLUMNS` order."""
    body = decode_body(entry.body)
    values = event_columns(body)
    return [
        body.entry.tenant_id, entry.chain_id, entry.seq, entry.prev_hash, entry.body_digest,
        entry.entry_hash, entry.key_id, entry.mac,
        *(values[name] for name in EVENT),
        entry.body,
    ]  # fmt: skip


def checkpoint_row(checkpoint: sealed.Checkpoint) -> list[Any]:
    return [
        checkpoint.chain_id.split("/", 1)[0], checkpoint.chain_id, checkpoint.tree_size,
        checkpoint.root_hash, checkpoint.key_name, checkpoint.note.decode(),
        _time(checkpoint.created_time),
    ]  # fmt: skip


def normalise(stored: Mapping[str, Any]) -> dict[str, Any]:
    """Column values as read back from ClickHouse, in the types `event_columns` uses."""
    out = dict(stored)
    for name in ("event_time", "received_time", "retain_until"):
        value = out.get(name)
        if isinstance(value, dt.datetime) and value.tzinfo is None:
            out[name] = value.replace(tzinfo=UTC)
    for name in ("policy_tags", "validation_issues", "detections"):
        if name in out:
            out[name] = list(out[name])
    return out
