"""OTLP protobuf (`ExportTraceServiceRequest`, the OpenTelemetry Collector's Kafka
exporter `otlp_proto` encoding) read into `Span` values (pure)."""

from __future__ import annotations

from typing import Any

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1 import trace_pb2

from auditstream.errors import AdapterError
from auditstream.integrations.spans import KINDS, STATUSES, Span, SpanEvent, SpanLink

MESSAGE_TYPE = "opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest"
MAX_DEPTH = 16  # nested AnyValue lists and maps deeper than this are cut


def value_of(value: AnyValue, depth: int = 0) -> Any:
    """The Python value of an OTLP AnyValue (None when unset)."""
    which = value.WhichOneof("value")
    if which is None:
        return None
    if which in ("array_value", "kvlist_value") and depth >= MAX_DEPTH:
        return "[nested too deep]"
    if which == "array_value":
        return [value_of(v, depth + 1) for v in value.array_value.values]
    if which == "kvlist_value":
        return {kv.key: value_of(kv.value, depth + 1) for kv in value.kvlist_value.values}
    return getattr(value, which)


def attributes_of(items: Any) -> dict[str, Any]:
    pairs: list[KeyValue] = list(items)
    return {kv.key: value_of(kv.value) for kv in pairs}


def parse_request(data: bytes) -> ExportTraceServiceRequest:
    """Raises `AdapterError` (reason ``unparseable``) for bytes that are not one."""
    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(data)
    except DecodeError as exc:
        raise AdapterError("unparseable", MESSAGE_TYPE, str(exc) or "invalid protobuf") from exc
    return request


def spans_of(request: ExportTraceServiceRequest) -> list[Span]:
    spans: list[Span] = []
    for resource_spans in request.resource_spans:
        resource = attributes_of(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            scope = scope_spans.scope
            spans.extend(
                _span(span, resource, scope.name, scope.version) for span in scope_spans.spans
            )
    return spans


def _span(span: trace_pb2.Span, resource: dict[str, Any], scope: str, version: str) -> Span:
    kind = KINDS[span.kind] if 0 <= span.kind < len(KINDS) else f"kind {span.kind}"
    code = span.status.code
    status = STATUSES[code] if 0 <= code < len(STATUSES) else f"status {code}"
    return Span(
        trace_id=span.trace_id,
        span_id=span.span_id,
        parent_span_id=span.parent_span_id,
        name=span.name,
        start_ns=span.start_time_unix_nano,
        end_ns=span.end_time_unix_nano,
        attributes=attributes_of(span.attributes),
        kind=kind,
        status=status,
        status_message=span.status.message,
        events=[
            SpanEvent(event.name, event.time_unix_nano, attributes_of(event.attributes))
            for event in span.events
        ],
        links=[
            SpanLink(link.trace_id, link.span_id, attributes_of(link.attributes))
            for link in span.links
        ],
        resource=resource,
        scope_name=scope,
        scope_version=version,
        dropped={
            "attributes": span.dropped_attributes_count,
            "events": span.dropped_events_count,
            "links": span.dropped_links_count,
        },
    )
