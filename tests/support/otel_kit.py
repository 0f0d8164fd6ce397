"""Finished spans from the real OpenTelemetry SDK, for tests and benches."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind


class Keep(SpanExporter):
    """Holds the finished spans it is given."""

    def __init__(self) -> None:
        self.spans: list[ReadableSpan] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.spans.extend(spans)
        return SpanExportResult.SUCCESS


def finished_spans(
    specs: Sequence[tuple[str, Mapping[str, Any], SpanKind]],
    resource: Mapping[str, Any] | None = None,
) -> list[ReadableSpan]:
    """One finished span per (name, attributes, kind), from one tracer provider."""
    keep = Keep()
    provider = TracerProvider(resource=Resource.create(dict(resource or {"service.name": "bot"})))
    provider.add_span_processor(SimpleSpanProcessor(keep))
    tracer = provider.get_tracer("t", "1.0")
    for name, attributes, kind in specs:
        with tracer.start_as_current_span(name, kind=kind) as span:
            span.set_attributes(dict(attributes))
    provider.shutdown()
    return keep.spans
