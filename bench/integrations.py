"""The OpenTelemetry doors into local Kafka: the SDK exporter and the OTLP ingest.

    python bench/integrations.py [--quick] [--spans N]

otel_export_spans_per_s  GenAI chat spans through AuditSpanExporter.export() (mapping,
                         content digests, producer) until Kafka acknowledged them all
otlp_ingest_spans_per_s  the same kind of spans as OTLP records (50 spans each) in a
                         topic, consumed by OtlpIngest until every event is acknowledged
                         and the offsets committed (timed from the first record taken)
ceilings                 confluent-kafka's bare produce() of the same LogEntry bytes that
                         each path produced, same settings, to full acknowledgement
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import _common
import _services
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind

from auditstream.core.content import DigestPolicy
from auditstream.core.keys import HmacKey
from auditstream.integrations import genai, otlp
from auditstream.integrations.content import ContentWriter
from auditstream.integrations.ingest import OtlpIngest, OtlpIngestConfig
from auditstream.integrations.otel import AuditSpanExporter, span_of
from auditstream.producers import AuditProducer, ProducerConfig
from auditstream.settings.connection import KafkaConnection
from tests.support.infra import unique
from tests.support.otel_kit import finished_spans

POLICY = DigestPolicy(HmacKey("bench-salt", b"b" * 32))
BATCH = 512  # the BatchSpanProcessor's default export batch
PER_RECORD = 50
MESSAGES = json.dumps(
    [
        {"role": "system", "parts": [{"type": "text", "content": "You are a support agent."}]},
        {"role": "user", "parts": [{"type": "text", "content": "Where is order 4411?"}]},
    ]
)


def attributes(n: int) -> dict[str, Any]:
    return {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.usage.input_tokens": 400 + n % 50,
        "gen_ai.usage.output_tokens": 60 + n % 7,
        "gen_ai.response.finish_reasons": ["stop"],
        "gen_ai.conversation.id": f"conv-{n % 1000}",
        "gen_ai.input.messages": MESSAGES,
        "server.address": "api.openai.com",
    }


def sdk_spans(count: int) -> list[ReadableSpan]:
    specs = [("chat gpt-4o", attributes(n), SpanKind.CLIENT) for n in range(count)]
    return finished_spans(specs, {"service.name": "support-bot"})


def otlp_records(count: int) -> list[bytes]:
    records = []
    start = time.time_ns()
    for first in range(0, count, PER_RECORD):
        request = ExportTraceServiceRequest()
        resource_spans = request.resource_spans.add()
        resource_spans.resource.attributes.append(
            KeyValue(key="service.name", value=AnyValue(string_value="support-bot"))
        )
        scope = resource_spans.scope_spans.add()
        for n in range(first, min(first + PER_RECORD, count)):
            span = scope.spans.add(
                trace_id=(n + 1).to_bytes(16, "big"),
                span_id=(n + 1).to_bytes(8, "big"),
                name="chat gpt-4o",
                kind=3,
                start_time_unix_nano=start + n,
                end_time_unix_nano=start + n + 800_000_000,
            )
            for key, value in attributes(n).items():
                if isinstance(value, int):
                    span.attributes.append(KeyValue(key=key, value=AnyValue(int_value=value)))
                elif isinstance(value, str):
                    span.attributes.append(KeyValue(key=key, value=AnyValue(string_value=value)))
                else:
                    any_value = AnyValue()
                    any_value.array_value.values.extend(AnyValue(string_value=v) for v in value)
                    span.attributes.append(KeyValue(key=key, value=any_value))
        records.append(request.SerializeToString())
    return records


def bare_rate(bootstrap: str, topic: str, values: list[bytes]) -> float:
    """The ceiling: the same bytes through confluent-kafka alone, to full acknowledgement."""
    bare = _common.bare_producer(bootstrap)
    started = time.perf_counter()
    for value in values:
        while True:
            try:
                bare.produce(topic, key=b"bench", value=value)
                break
            except BufferError:
                bare.poll(0.05)
        bare.poll(0)
    assert bare.flush(600) == 0
    return len(values) / (time.perf_counter() - started)


def producer(bootstrap: str, topic: str, spool: Path) -> AuditProducer:
    config = ProducerConfig(
        kafka=KafkaConnection(bootstrap), topic=topic, spool_dir=spool, tenant_id="bench"
    )
    made = AuditProducer(config, content=POLICY)
    made.start()
    return made


def bench_export(bootstrap: str, topics: list[str], tmp: Path, count: int) -> tuple[float, float]:
    spans = sdk_spans(count)
    exporter = AuditSpanExporter(producer(bootstrap, topics[0], tmp / "export-spool"))
    started = time.perf_counter()
    for first in range(0, count, BATCH):
        exporter.export(spans[first : first + BATCH])
    assert exporter.force_flush(600_000), exporter.producer.stats()
    rate = count / (time.perf_counter() - started)
    exporter.producer.close()
    assert exporter.stats()["exported"] == count, exporter.stats()
    writer = ContentWriter(POLICY)
    values = []
    for span in spans:
        entry = genai.span_entry(span_of(span), writer, tenant_id="bench")
        assert entry is not None
        values.append(entry.SerializeToString(deterministic=True))
    return rate, bare_rate(bootstrap, topics[1], values)


def bench_ingest(bootstrap: str, topics: list[str], tmp: Path, count: int) -> tuple[float, float]:
    records = otlp_records(count)
    feed = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20})
    for value in records:
        feed.produce(topics[2], value=value)
        feed.poll(0)
    assert feed.flush(120) == 0
    ingest = OtlpIngest(
        producer(bootstrap, topics[3], tmp / "ingest-spool"),
        OtlpIngestConfig(KafkaConnection(bootstrap), topics[2], topics[4], unique("bench-ingest")),
    )
    stop = threading.Event()
    thread = threading.Thread(target=ingest.run, args=(stop,), daemon=True)
    thread.start()
    while ingest.counts["records"] == 0:
        time.sleep(0.001)
    started, before = time.perf_counter(), ingest.counts["spans"]
    while ingest.counts["spans"] < count:
        time.sleep(0.005)
    stop.set()
    thread.join(600)  # the final commit waits for every acknowledgement
    rate = (count - before) / (time.perf_counter() - started)
    ingest.producer.close()
    assert ingest.counts["events"] == count, dict(ingest.counts)
    writer = ContentWriter(POLICY)
    values = []
    for record in records:
        for span in otlp.spans_of(otlp.parse_request(record)):
            entry = genai.span_entry(span, writer, tenant_id="bench")
            assert entry is not None
            values.append(entry.SerializeToString(deterministic=True))
    return rate, bare_rate(bootstrap, topics[5], values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5k spans")
    parser.add_argument("--spans", type=int, default=50_000)
    args = parser.parse_args()
    count = 5_000 if args.quick else args.spans
    with _services.kafka_bootstrap() as bootstrap, tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        admin = AdminClient({"bootstrap.servers": bootstrap})
        topics = [unique(f"bench-integrations-{n}") for n in range(6)]
        for future in admin.create_topics([NewTopic(t, 4, 1) for t in topics]).values():
            future.result(30)
        export, export_ceiling = bench_export(bootstrap, topics, tmp, count)
        ingest, ingest_ceiling = bench_ingest(bootstrap, topics, tmp, count)
    _common.emit(
        "integrations",
        {
            "otel_export_spans_per_s": _common.figure(
                export, "spans/s", ceiling=export_ceiling, goal=None
            ),
            "otlp_ingest_spans_per_s": _common.figure(
                ingest, "spans/s", ceiling=ingest_ceiling, goal=None
            ),
        },
        spans=count,
        spans_per_otlp_record=PER_RECORD,
    )


if __name__ == "__main__":
    main()
