"""`AuditSpanExporter`: an OpenTelemetry SDK span exporter that records GenAI and MCP
spans as audit events.

    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(AuditSpanExporter(producer)))
    trace.set_tracer_provider(provider)

Spans with `gen_ai.*` or `mcp.*` attributes become events through `producer`
(mapping: `auditstream.integrations.genai`); other spans are counted as `ignored`.
Export never raises into the SDK: a span that cannot be mapped is still recorded, with
the problem in `validation_issues`. Needs `pip install 'auditstream[otel]'`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import StatusCode

from auditstream.errors import AuditStreamError
from auditstream.integrations import genai
from auditstream.integrations.content import ContentWriter
from auditstream.integrations.spans import Span, SpanEvent, SpanLink
from auditstream.producers import AuditProducer
from auditstream.producers.events import uuid7
from auditstream.proto.v1 import log_entry_pb2 as pb

log = logging.getLogger(__name__)
_STATUS = {StatusCode.UNSET: "unset", StatusCode.OK: "ok", StatusCode.ERROR: "error"}


def span_of(span: ReadableSpan) -> Span:
    """The mapping's view of an SDK span."""
    context = span.context
    parent = span.parent
    scope = span.instrumentation_scope
    start = span.start_time or 0
    return Span(
        trace_id=context.trace_id.to_bytes(16, "big") if context else b"",
        span_id=context.span_id.to_bytes(8, "big") if context else b"",
        parent_span_id=parent.span_id.to_bytes(8, "big") if parent else b"",
        name=span.name,
        start_ns=start,
        end_ns=span.end_time if span.end_time is not None else start,
        attributes=dict(span.attributes or {}),
        kind=span.kind.name.lower(),
        status=_STATUS.get(span.status.status_code, "unset"),
        status_message=span.status.description or "",
        events=[
            SpanEvent(event.name, event.timestamp, dict(event.attributes or {}))
            for event in span.events
        ],
        links=[
            SpanLink(
                link.context.trace_id.to_bytes(16, "big"),
                link.context.span_id.to_bytes(8, "big"),
                dict(link.attributes or {}),
            )
            for link in span.links
        ],
        resource=dict(span.resource.attributes),
        scope_name=scope.name if scope else "",
        scope_version=(scope.version or "") if scope else "",
        dropped={
            "attributes": span.dropped_attributes,
            "events": span.dropped_events,
            "links": span.dropped_links,
        },
    )


def unmappable_entry(name: str, start_ns: int, tenant_id: str, exc: Exception) -> pb.LogEntry:
    """What is recorded of a span the mapping failed on: its name and the failure."""
    entry = pb.LogEntry(
        event_type=genai.FALLBACK,
        outcome=pb.OUTCOME_OTHER,
        severity=pb.SEVERITY_WARNING,
        actor_id="unknown_service",
        tenant_id=tenant_id,
        event_id=uuid7(start_ns),
        message=name,
        validation_issues=[f"span not mappable: {type(exc).__name__}: {exc}"],
    )
    entry.event_time.FromNanoseconds(max(start_ns, 0))
    return entry


class AuditSpanExporter(SpanExporter):
    """Exports GenAI and MCP spans through an `AuditProducer`.

    `chain_id` overrides the producer's chain; `close_producer` makes `shutdown()`
    close the producer (for an exporter that owns it)."""

    def __init__(
        self, producer: AuditProducer, *, chain_id: str = "", close_producer: bool = False
    ) -> None:
        self.producer = producer
        self.chain_id = chain_id
        self.close_producer = close_producer
        self.content = ContentWriter.of(producer)
        self._lock = threading.Lock()
        self._counts = {"exported": 0, "ignored": 0, "with_issues": 0, "failed": 0}

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        result = SpanExportResult.SUCCESS
        for span in spans:
            tenant = self.producer.config.tenant_id
            try:
                entry = genai.span_entry(span_of(span), self.content, tenant_id=tenant)
            except Exception as exc:
                log.exception("span %r could not be mapped; recording it with the error", span.name)
                entry = unmappable_entry(span.name, span.start_time or 0, tenant, exc)
            if entry is None:
                self._count("ignored")
                continue
            if entry.validation_issues:
                self._count("with_issues")
                log.warning(
                    "span %r recorded with issues: %s",
                    span.name,
                    "; ".join(entry.validation_issues),
                )
            try:
                self.producer.emit(entry, chain_id=self.chain_id)
            except AuditStreamError:
                # Only a strict producer raises; it has logged the reason.
                self._count("failed")
                result = SpanExportResult.FAILURE
                continue
            self._count("exported")
        return result

    def _count(self, name: str) -> None:
        with self._lock:
            self._counts[name] += 1

    def stats(self) -> dict[str, int]:
        """Spans exported, ignored (not GenAI/MCP), recorded with issues, and failed."""
        with self._lock:
            return dict(self._counts)

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self.producer.flush(timeout_millis / 1000)

    def shutdown(self) -> None:
        if self.close_producer:
            self.producer.close()
        else:
            self.producer.flush(self.producer.config.close_timeout_s)
