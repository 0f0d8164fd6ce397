"""Doors into auditstream that cost the adopting team no code (docs/integrations.md).

    otel      AuditSpanExporter: OpenTelemetry GenAI / MCP spans      extra: otel
    ingest    OTLP from Kafka (the Collector's Kafka exporter)         extra: otel
    mcp       AuditedClientSession around the mcp SDK's ClientSession  extra: mcp
    comply    a StorageBackend for rotalabs-comply                     extra: comply
    lokryn    an ASGI receiver for lokryn-mcp-log's HTTPSink           extra: http

`genai` (the span mapping), `spans`, `content` and `otlp` are pure. Each module imports
only its own optional dependency, so installing one extra is enough for it.
"""
