"""Building LogEntry messages from keyword arguments, and event ids (pure, apart from
the clock, which is injectable, and the random part of event ids)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from google.protobuf import struct_pb2

from auditstream.proto.v1 import log_entry_pb2 as pb

Clock = Callable[[], int]  # nanoseconds since the epoch

# Scalar fields a caller may set by name on any event.
SCALAR_FIELDS = frozenset(
    {
        "actor_id",
        "component",
        "environment",
        "resource",
        "message",
        "tenant_id",
        "actor_type",
        "trace_id",
        "span_id",
        "parent_span_id",
        "session_id",
        "ocsf_class_uid",
        "ocsf_activity_id",
        "otel_operation_name",
        "client_id",
        "client_version",
        "server_id",
        "server_version",
        "request_size_bytes",
        "response_size_bytes",
        "geo_region",
        "payload_content_type",
        "action",
        "duration_ms",
    }
)


# The version and variant bits of a UUIDv7, set in a random byte: 0111 in the high
# nibble of its 7th byte, 10 in the top bits of its 9th.
_VERSION_7 = bytes.maketrans(bytes(range(256)), bytes(b & 0x0F | 0x70 for b in range(256)))
_VARIANT = bytes.maketrans(bytes(range(256)), bytes(b & 0x3F | 0x80 for b in range(256)))


class EventIds:
    """UUIDv7 event ids (RFC 9562): 48-bit Unix milliseconds, version 7, 74 random bits.

    The random last ten bytes of 64 ids come from one read of the OS's random source,
    get their version and variant bits in two byte translations and are formatted in
    one list; the millisecond prefix is formatted once per millisecond. So an id costs
    a `next()` and a concatenation. Thread-safe without a lock: taking the next ready
    part is one `next()` on a list iterator, which the GIL makes atomic, and the prefix
    is replaced as one tuple.
    """

    BLOCK = 64

    def __init__(self) -> None:
        self._parts: Iterator[str] = iter(())
        self._prefix: tuple[int, str] = (-1, "")

    def __call__(self, now_ns: int) -> str:
        ms = now_ns // 1_000_000
        cached_ms, prefix = self._prefix
        if ms != cached_ms:
            digits = f"{ms & 0xFFFF_FFFF_FFFF:012x}"
            prefix = f"{digits[:8]}-{digits[8:]}-"
            self._prefix = (ms, prefix)
        part = next(self._parts, None)
        if part is None:
            part = self._refill()
        return prefix + part

    def _refill(self) -> str:
        tails = bytearray(os.urandom(self.BLOCK * 10))
        tails[0::10] = tails[0::10].translate(_VERSION_7)
        tails[2::10] = tails[2::10].translate(_VARIANT)
        d = tails.hex()
        parts = [
            f"{d[i : i + 4]}-{d[i + 4 : i + 8]}-{d[i + 8 : i + 20]}" for i in range(0, len(d), 20)
        ]
        self._parts = iter(parts[1:])
        return parts[0]


uuid7 = EventIds()


def enum_value(enum: Any, value: int | str, field: str) -> int:
    """Accept an enum number or its name (with or without the prefix); anything else is
    -1, which validation refuses naming the field."""
    if isinstance(value, int):
        return value
    if not isinstance(value, str):
        return -1
    try:
        return int(enum.Value(value))
    except ValueError:
        pass
    prefix = field.upper() + "_" if field != "event_type" else "EVENT_"
    try:
        return int(enum.Value(prefix + value.upper()))
    except ValueError:
        return -1  # refused by validation, which names the field


def payload_bytes(payload: bytes | str | Mapping[str, Any] | list[Any] | None) -> bytes:
    if payload is None:
        return b""
    if isinstance(payload, bytes):
        return payload
    if isinstance(payload, str):
        return payload.encode()
    return json.dumps(payload, separators=(",", ":"), default=str).encode()


def struct_of(values: Mapping[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(json.loads(json.dumps(values, default=str)))
    return struct


def build_entry(
    event_type: int | str,
    *,
    clock: Clock = time.time_ns,
    outcome: int | str = pb.OUTCOME_SUCCESS,
    severity: int | str = pb.SEVERITY_INFO,
    sensitivity: int | str = pb.SENSITIVITY_UNSPECIFIED,
    payload: bytes | str | Mapping[str, Any] | list[Any] | None = None,
    policy_tags: list[str] | tuple[str, ...] = (),
    data: Mapping[str, Any] | None = None,
    event_id: str = "",
    event_time_ns: int | None = None,
    **fields: Any,
) -> pb.LogEntry:
    """A LogEntry with an event id and event time; unknown keywords raise TypeError."""
    unknown = set(fields) - SCALAR_FIELDS
    if unknown:
        raise TypeError(f"unknown event fields: {', '.join(sorted(unknown))}")
    now = clock()
    entry = pb.LogEntry(
        event_type=enum_value(pb.EventType, event_type, "event_type"),  # type: ignore[arg-type]
        outcome=enum_value(pb.Outcome, outcome, "outcome"),  # type: ignore[arg-type]
        severity=enum_value(pb.Severity, severity, "severity"),  # type: ignore[arg-type]
        sensitivity=enum_value(pb.Sensitivity, sensitivity, "sensitivity"),  # type: ignore[arg-type]
        payload=payload_bytes(payload),
        policy_tags=list(policy_tags),
        event_id=event_id or uuid7(now),
        **{k: v for k, v in fields.items() if v is not None},
    )
    entry.event_time.FromNanoseconds(event_time_ns if event_time_ns is not None else now)
    if data:
        entry.data.CopyFrom(struct_of(data))
    return entry
