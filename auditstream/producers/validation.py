"""Producer-side validation (pure): refuse in strict mode, repair and mark otherwise.

Strict mode raises `AuditValidationError` naming the field. Tolerant mode (the
default) never loses the event: it repairs what would make the processor refuse it,
records each problem in `LogEntry.validation_issues`, and the event is sealed with that
marker for everyone to see.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from auditstream.core.chain import is_valid_chain_id
from auditstream.errors import AuditStreamError
from auditstream.proto.v1 import log_entry_pb2 as pb

_ENUMS = (
    ("event_type", frozenset(pb.EventType.values())),
    ("outcome", frozenset(pb.Outcome.values())),
    ("severity", frozenset(pb.Severity.values())),
    ("sensitivity", frozenset(pb.Sensitivity.values())),
)


class AuditValidationError(AuditStreamError, ValueError):
    """An event is not valid; `field` names the field, `problem` says why."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


@dataclass(frozen=True)
class EventLimits:
    max_event_bytes: int = 900_000  # under the processor's 1 MiB record limit


def check(entry: pb.LogEntry, chain_id: str, limits: EventLimits, *, strict: bool) -> list[str]:
    """Validate `entry` in place; returns the issues (already repaired unless strict)."""
    issues: list[str] = []

    def problem(field: str, text: str) -> None:
        if strict:
            raise AuditValidationError(field, text)
        issues.append(f"{field}: {text}")

    for name, allowed in _ENUMS:
        value = getattr(entry, name)
        if value not in allowed:
            problem(name, f"unknown value {value}")
            setattr(entry, name, 0)
    if entry.event_type == pb.EVENT_TYPE_UNSPECIFIED and not any(
        i.startswith("event_type") for i in issues
    ):
        problem("event_type", "not set")
    if not entry.actor_id:
        problem("actor_id", "empty")
    if not isinstance(chain_id, str):
        problem("chain_id", f"not a string ({type(chain_id).__name__})")
    elif not is_valid_chain_id(chain_id):
        problem("chain_id", f"{chain_id[:80]!r} is not a valid chain id")
    if entry.payload and entry.payload_content_type in ("", "application/json"):
        try:
            json.loads(entry.payload)
        except (ValueError, UnicodeDecodeError):
            problem("payload", "not valid JSON")
            entry.payload_content_type = "application/octet-stream"
    entry.validation_issues.extend(issues)
    size = entry.ByteSize()
    if size > limits.max_event_bytes:
        problem("size", f"{size} bytes exceeds {limits.max_event_bytes}")
        entry.validation_issues.append(issues[-1])
        _shrink(entry, limits.max_event_bytes)
    return issues


def _shrink(entry: pb.LogEntry, limit: int) -> None:
    """Replace the bulky parts by their SHA-256 so the event fits."""
    for name in ("payload", "message"):
        value = getattr(entry, name)
        if value and entry.ByteSize() > limit:
            data = value if isinstance(value, bytes) else value.encode()
            digest = hashlib.sha256(data).hexdigest()
            entry.validation_issues.append(f"{name}: replaced by its sha256 {digest}")
            setattr(entry, name, b"" if isinstance(value, bytes) else f"[sha256:{digest}]")
    if entry.ByteSize() > limit:
        entry.ClearField("data")
        entry.validation_issues.append("data: dropped to fit the size limit")
