"""One span as the GenAI mapping reads it, whatever it came from: the OpenTelemetry SDK
(`otel.AuditSpanExporter`) or OTLP protobuf bytes (`otlp.spans_of`). Pure values."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# An attribute value: a string, bool, int, float, bytes, or a list or mapping of them
# (OTLP allows nested values; the SDK allows homogeneous lists).
Attributes = Mapping[str, Any]

KINDS = ("unspecified", "internal", "server", "client", "producer", "consumer")
STATUSES = ("unset", "ok", "error")


@dataclass(frozen=True)
class SpanEvent:
    name: str
    time_ns: int
    attributes: Attributes = field(default_factory=dict)


@dataclass(frozen=True)
class SpanLink:
    trace_id: bytes
    span_id: bytes
    attributes: Attributes = field(default_factory=dict)


@dataclass(frozen=True)
class Span:
    """trace_id is 16 bytes and span_id 8 bytes when valid; parent_span_id is empty for
    a root span. `kind` is one of KINDS, `status` one of STATUSES. `dropped` counts
    what the SDK discarded before export (attributes, events, links)."""

    trace_id: bytes
    span_id: bytes
    name: str
    start_ns: int
    end_ns: int
    attributes: Attributes = field(default_factory=dict)
    parent_span_id: bytes = b""
    kind: str = "internal"
    status: str = "unset"
    status_message: str = ""
    events: Sequence[SpanEvent] = ()
    links: Sequence[SpanLink] = ()
    resource: Attributes = field(default_factory=dict)
    scope_name: str = ""
    scope_version: str = ""
    dropped: Mapping[str, int] = field(default_factory=dict)
