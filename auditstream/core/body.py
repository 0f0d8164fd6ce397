"""The SealedBody bytes a chain entry commits to.

Bodies are serialized once, deterministically (map fields sorted), and stored as is.
Nothing ever re-serializes a body to check it: verification hashes the stored bytes.
They are written by hand (`core.wire`), field for field what upb's deterministic
serialization of the same SealedBody writes.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

from auditstream.core import wire
from auditstream.proto.v1.log_entry_pb2 import LogEntry
from auditstream.proto.v1.sealed_pb2 import Classification, SealedBody

# (kind, field, count, masked): one Detection of a Classification.
DetectionItem = tuple[str, str, int, bool]


def encode_body(
    entry: LogEntry | bytes,
    *,
    chain_id: str,
    seq: int,
    received_time_ns: int,
    source_topic: str = "",
    source_partition: int = 0,
    source_offset: int = 0,
    classification: Classification | bytes | None = None,
) -> bytes:
    """Serialize a SealedBody.

    `entry` may be a LogEntry or its serialized bytes (parsed and serialized again, so
    that the body holds the canonical form). `classification` may be a message or
    bytes from `encode_classification`. `received_time_ns` is the raw record's Kafka
    timestamp in nanoseconds since the epoch.
    """
    if isinstance(entry, bytes):
        entry = LogEntry.FromString(entry)
    if isinstance(classification, Classification):
        classification = classification.SerializeToString(deterministic=True)
    return body_bytes(
        entry.SerializeToString(deterministic=True),
        classification,
        chain_id,
        seq,
        received_time_ns,
        source_record(source_topic, source_partition, source_offset),
    )


def body_bytes(
    entry: bytes,
    classification: bytes | None,
    chain_id: str,
    seq: int,
    received_time_ns: int,
    source: bytes,
    protected: bytes = b"",
) -> bytes:
    """A SealedBody from its parts: the entry's canonical bytes, the classification's
    bytes (None: not set), `source` from `source_record`, and the ProtectedFields bytes
    (b"": none)."""
    varint = wire.varint
    received = wire.timestamp(received_time_ns)
    return b"".join(
        (
            b"\x0a",
            varint(len(entry)),
            entry,
            b"" if classification is None else b"\x12" + varint(len(classification)),
            classification or b"",
            _chain_field(chain_id),
            b"\x20" + varint(seq) if seq else b"",
            b"\x2a",
            varint(len(received)),
            received,
            source,
            wire.length_delimited(7, protected) if protected else b"",
        )
    )


@functools.lru_cache(maxsize=4096)
def _chain_field(chain_id: str) -> bytes:
    return wire.optional_bytes(3, chain_id.encode())


@functools.lru_cache(maxsize=256)
def _source_prefix(topic: str, partition: int) -> bytes:
    return wire.optional_bytes(1, topic.encode()) + wire.optional_varint(2, partition)


def source_record(topic: str, partition: int, offset: int) -> bytes:
    """SealedBody field 6 (left out when there is no topic, as the processor does)."""
    if not topic:
        return b""
    record = _source_prefix(topic, partition) + (b"\x18" + wire.varint(offset) if offset else b"")
    return b"\x32" + wire.varint(len(record)) + record


@dataclass(frozen=True, slots=True)
class _Parts:
    """A Classification's bytes before and after its retain_until field."""

    before: bytes
    after: bytes


def encode_classification(
    *,
    declared_sensitivity: int,
    detections: Sequence[DetectionItem],
    added_policy_tags: Sequence[str],
    retention_class: str,
    retain_until_ns: int,
    legal_hold: bool,
    policy_version: str,
    notes: Sequence[str],
) -> bytes:
    """A Classification, `detections` in the order given (the processor sorts them).

    All fields but retain_until repeat from event to event, so their bytes are
    remembered (bounded) and only the time is encoded each time."""
    parts = _classification_parts(
        declared_sensitivity,
        tuple(detections),
        tuple(added_policy_tags),
        retention_class,
        legal_hold,
        policy_version,
        tuple(notes),
    )
    until = wire.timestamp(retain_until_ns)
    return b"".join((parts.before, b"\x2a", wire.varint(len(until)), until, parts.after))


@functools.lru_cache(maxsize=4096)
def _classification_parts(
    declared_sensitivity: int,
    detections: tuple[DetectionItem, ...],
    added_policy_tags: tuple[str, ...],
    retention_class: str,
    legal_hold: bool,
    policy_version: str,
    notes: tuple[str, ...],
) -> _Parts:
    before = b"".join(
        (
            wire.optional_varint(1, declared_sensitivity),
            b"".join(
                wire.length_delimited(
                    2,
                    wire.optional_bytes(1, kind.encode())
                    + wire.optional_bytes(2, field.encode())
                    + wire.optional_varint(3, count)
                    + wire.optional_varint(4, masked),
                )
                for kind, field, count, masked in detections
            ),
            wire.repeated_bytes(3, (tag.encode() for tag in added_policy_tags)),
            wire.optional_bytes(4, retention_class.encode()),
        )
    )
    after = b"".join(
        (
            wire.optional_varint(6, legal_hold),
            wire.optional_bytes(7, policy_version.encode()),
            wire.repeated_bytes(8, (note.encode() for note in notes)),
        )
    )
    return _Parts(before, after)


def decode_body(data: bytes) -> SealedBody:
    """Parse stored body bytes; raises google.protobuf.message.DecodeError."""
    body = SealedBody()
    body.ParseFromString(data)
    return body
