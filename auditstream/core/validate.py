"""Validation of raw records before sealing (pure).

A record is either accepted — as a LogEntry with the chain it belongs to — or rejected
with a dead-letter reason code and a detail that names the field. Nothing raises on
bad input.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from google.protobuf.message import DecodeError

from auditstream.core import headers
from auditstream.core.chain import is_valid_chain_id
from auditstream.core.content import ContentPolicy
from auditstream.core.lokryn import from_lokryn_v020
from auditstream.errors import AdapterError
from auditstream.proto.v1 import log_entry_pb2 as pb
from auditstream.proto.v1 import sealed_pb2 as sealed

R = sealed.DeadLetterReason
# Derived event ids for records that carry none (lokryn producers): stable per source
# position, so reprocessing a record yields the same id and is deduplicated.
SOURCE_NAMESPACE = uuid.UUID("6f1c4a7e-2b3d-5e8f-9a0b-1c2d3e4f5a6b")
MAX_EVENT_ID = 128
MAX_SUBJECTS = 16  # data subjects of one event
MAX_SUBJECT_ID = 256

_EVENT_TYPES = frozenset(pb.EventType.values())
_OUTCOMES = frozenset(pb.Outcome.values())
_SEVERITIES = frozenset(pb.Severity.values())
_SENSITIVITIES = frozenset(pb.Sensitivity.values())


class RawRecord(NamedTuple):
    """A record as read from the raw topic. (A named tuple: the worker builds one per
    record, and a frozen dataclass takes several times as long to construct.)"""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes
    headers: Sequence[tuple[str, bytes]] = ()

    def header(self, name: str) -> bytes | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None


@dataclass(frozen=True)
class Limits:
    max_record_bytes: int = 1_048_576
    max_future_skew_s: float = 300.0  # event time this far ahead of Kafka time is refused
    max_age_s: float | None = None  # optionally refuse events older than this
    default_tenant: str = "default"


@dataclass(frozen=True, slots=True)
class Rejected:
    reason: int
    detail: str


@dataclass(slots=True)
class Accepted:
    entry: pb.LogEntry
    chain_id: str
    # True when `entry` still equals the record bytes, so they can be embedded as is.
    unchanged: bool
    notes: list[str] = field(default_factory=list)
    payload_json: object = None  # the parsed payload, when it is JSON
    event_time_ns: int = 0  # 0: the entry has no event time


def _unknown(name: str, value: int) -> Rejected:
    return Rejected(R.DEAD_LETTER_REASON_UNKNOWN_ENUM, f"{name}: unknown value {value}")


class Validator:
    def __init__(self, limits: Limits, content: ContentPolicy) -> None:
        self.limits = limits
        self._content = content
        self._max_skew_ns = int(limits.max_future_skew_s * 1e9)
        self._max_age_ns = None if limits.max_age_s is None else int(limits.max_age_s * 1e9)

    def check(self, record: RawRecord) -> Accepted | Rejected:
        if len(record.value) > self.limits.max_record_bytes:
            return Rejected(
                R.DEAD_LETTER_REASON_OVERSIZE,
                f"{len(record.value)} bytes exceeds the limit of {self.limits.max_record_bytes}",
            )
        parsed = self._parse(record)
        if isinstance(parsed, Rejected):
            return parsed
        entry, unchanged = parsed
        problem = self._check_fields(entry)
        if problem is not None:
            return problem
        document = None
        if entry.payload and entry.payload_content_type in ("", "application/json"):
            try:
                document = json.loads(entry.payload)
            except (ValueError, UnicodeDecodeError) as exc:
                return Rejected(R.DEAD_LETTER_REASON_INVALID_JSON_PAYLOAD, f"payload: {exc}")
        event_time_ns = 0
        if entry.HasField("event_time"):
            event_time = entry.event_time
            event_time_ns = event_time.seconds * 1_000_000_000 + event_time.nanos
            skew = self._skew(event_time_ns, record.timestamp_ms)
            if skew is not None:
                return skew
        notes: list[str] = []
        chain = self._chain(entry, record, notes)
        if isinstance(chain, Rejected):
            return chain
        if not entry.event_id:
            entry.event_id = str(
                uuid.uuid5(SOURCE_NAMESPACE, f"{record.topic}/{record.partition}/{record.offset}")
            )
            notes.append("event_id derived from the source position")
        return Accepted(entry, chain, unchanged and not notes, notes, document, event_time_ns)

    def _parse(self, record: RawRecord) -> tuple[pb.LogEntry, bool] | Rejected:
        raw_type = record.header(headers.MESSAGE_TYPE) if record.headers else None
        message_type = headers.LOG_ENTRY_V1
        if raw_type is not None:
            try:
                message_type = raw_type.decode("ascii")
            except UnicodeDecodeError:
                message_type = repr(raw_type)
        if message_type in headers.NATIVE_TYPES:
            entry = pb.LogEntry()
            try:
                entry.ParseFromString(record.value)
            except DecodeError as exc:
                return Rejected(R.DEAD_LETTER_REASON_UNPARSEABLE, f"not a LogEntry: {exc}")
            return entry, True
        if message_type == headers.LOKRYN_V020:
            key = record.key.decode("utf-8", "replace") if record.key else ""
            tenant = key.split("/", 1)[0] or self.limits.default_tenant
            try:
                return from_lokryn_v020(record.value, self._content, tenant_id=tenant), False
            except AdapterError as exc:
                reason = {
                    "unparseable": R.DEAD_LETTER_REASON_UNPARSEABLE,
                    "unknown_enum": R.DEAD_LETTER_REASON_UNKNOWN_ENUM,
                }.get(exc.reason, R.DEAD_LETTER_REASON_ADAPTER_ERROR)
                return Rejected(reason, f"lokryn 0.2.0: {exc}")
        return Rejected(
            R.DEAD_LETTER_REASON_UNKNOWN_MESSAGE_TYPE,
            f"header {headers.MESSAGE_TYPE}={message_type[:80]!r} is not a known message type",
        )

    @staticmethod
    def _check_fields(entry: pb.LogEntry) -> Rejected | None:
        # Each field is read once: reading a field of a message costs about a microsecond.
        event_type, actor_id = entry.event_type, entry.actor_id
        if event_type not in _EVENT_TYPES:
            return _unknown("event_type", event_type)
        if (outcome := entry.outcome) not in _OUTCOMES:
            return _unknown("outcome", outcome)
        if (severity := entry.severity) not in _SEVERITIES:
            return _unknown("severity", severity)
        if (sensitivity := entry.sensitivity) not in _SENSITIVITIES:
            return _unknown("sensitivity", sensitivity)
        # An event the producer already flagged (tolerant mode) is recorded as flagged.
        if not event_type or not actor_id:
            flagged = len(entry.validation_issues) > 0
            if not event_type and not flagged:
                return Rejected(R.DEAD_LETTER_REASON_MISSING_FIELD, "event_type: not set")
            if not actor_id and not flagged:
                return Rejected(R.DEAD_LETTER_REASON_MISSING_FIELD, "actor_id: empty")
        event_id = entry.event_id
        if len(event_id) > MAX_EVENT_ID or not event_id.isprintable():
            return Rejected(
                R.DEAD_LETTER_REASON_INVALID_FIELD, "event_id: longer than 128 or not printable"
            )
        producer_id = entry.producer_id
        if len(producer_id) > MAX_EVENT_ID or not producer_id.isprintable():
            return Rejected(
                R.DEAD_LETTER_REASON_INVALID_FIELD, "producer_id: longer than 128 or not printable"
            )
        subjects = entry.subject_ids
        if subjects and (
            len(subjects) > MAX_SUBJECTS
            or not all(0 < len(s) <= MAX_SUBJECT_ID and s.isprintable() for s in subjects)
        ):
            return Rejected(
                R.DEAD_LETTER_REASON_INVALID_FIELD,
                f"subject_ids: more than {MAX_SUBJECTS}, or one empty, longer than "
                f"{MAX_SUBJECT_ID} or not printable",
            )
        return None

    def _skew(self, event_time_ns: int, timestamp_ms: int) -> Rejected | None:
        skew_ns = event_time_ns - timestamp_ms * 1_000_000
        if skew_ns > self._max_skew_ns:
            return Rejected(
                R.DEAD_LETTER_REASON_TIME_SKEW,
                f"event_time is {skew_ns / 1e9:.0f} s ahead of the Kafka timestamp",
            )
        if self._max_age_ns is not None and -skew_ns > self._max_age_ns:
            return Rejected(
                R.DEAD_LETTER_REASON_TIME_SKEW, f"event_time is {-skew_ns / 1e9:.0f} s old"
            )
        return None

    def _chain(self, entry: pb.LogEntry, record: RawRecord, notes: list[str]) -> str | Rejected:
        try:
            key = record.key.decode("utf-8") if record.key else ""
        except UnicodeDecodeError:
            return Rejected(R.DEAD_LETTER_REASON_INVALID_CHAIN_KEY, "record key is not UTF-8")
        tenant = entry.tenant_id
        chain = key or tenant or self.limits.default_tenant
        if not is_valid_chain_id(chain):
            return Rejected(
                R.DEAD_LETTER_REASON_INVALID_CHAIN_KEY, f"{chain[:80]!r} is not a chain id"
            )
        if tenant and chain != tenant and not chain.startswith(tenant + "/"):
            return Rejected(
                R.DEAD_LETTER_REASON_INVALID_CHAIN_KEY,
                f"record key {chain!r} is not a chain of tenant {tenant!r}",
            )
        if not tenant:
            entry.tenant_id = chain.split("/", 1)[0]
            notes.append("tenant_id taken from the chain")
        return chain
