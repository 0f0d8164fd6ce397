"""OTLP from Kafka: what the OpenTelemetry Collector's Kafka exporter writes
(`otlp_proto` encoding of `ExportTraceServiceRequest`) becomes audit events.

At-least-once with de-duplication, not exactly once: the audit producer is not
transactional, so offsets are committed only after Kafka has acknowledged every event
made from the records before them (and every dead letter). A crash in between re-reads
those records; their events get the same event ids (derived from trace and span id,
`genai.span_event_id`), and the processor drops the repeats (its window holds the
last 100,000 event ids of a partition).

A record that is not an `ExportTraceServiceRequest` goes to the dead-letter topic with
its bytes, source offset and reason; spans that are not GenAI or MCP are counted as
ignored; a span with malformed attributes is recorded with `validation_issues`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer, TopicPartition

from auditstream.errors import AdapterError, AuditStreamError
from auditstream.integrations import genai, otlp
from auditstream.integrations.content import ContentWriter
from auditstream.integrations.otel import unmappable_entry
from auditstream.producers import AuditProducer
from auditstream.proto.v1 import sealed_pb2 as sealed
from auditstream.runtime.logs import KAFKA_LOGGER
from auditstream.settings.connection import ConnectionErrors, KafkaConnection
from auditstream.sinks.base import sink_consumer

log = logging.getLogger(__name__)


class IngestError(AuditStreamError):
    """The ingest cannot go on without losing records (a dead letter was refused)."""


@dataclass(frozen=True)
class OtlpIngestConfig:
    """
    topic             what the Collector's Kafka exporter writes (`otlp_spans` by default there)
    deadletter_topic  where unreadable records go (the pipeline's dead-letter topic)
    commit_interval_s how often offsets are committed (after the events are acknowledged)
    """

    kafka: KafkaConnection
    topic: str = "otlp_spans"
    deadletter_topic: str = "audit.deadletter.v1"
    group_id: str = "auditstream-ingest-otlp"
    max_messages: int = 500
    commit_interval_s: float = 1.0
    flush_timeout_s: float = 30.0
    client_settings: Mapping[str, Any] = field(default_factory=dict)


def dead_letter(message: Message, reason: int, detail: str, now_ns: int) -> bytes:
    """The DeadLetter of a record that could not be taken in."""
    letter = sealed.DeadLetter(
        reason=reason,  # type: ignore[arg-type]
        detail=detail,
        original_value=message.value() or b"",
        original_key=message.key() or b"",
        original_headers=[_header(item) for item in message.headers() or []],
        source=sealed.SourceRecord(
            topic=message.topic() or "",
            partition=message.partition() or 0,
            offset=message.offset() or 0,
        ),
    )
    _, timestamp_ms = message.timestamp()
    letter.received_time.FromMilliseconds(max(timestamp_ms, 0))
    letter.dead_lettered_time.FromNanoseconds(now_ns)
    return letter.SerializeToString()


def _header(item: Any) -> sealed.RecordHeader:
    key, value = item
    data = value if isinstance(value, bytes) else str(value or "").encode()
    return sealed.RecordHeader(key=key, value=data)


class OtlpIngest:
    """Consumes OTLP records and produces their GenAI and MCP spans as audit events.

    Nothing is opened until `run`. `counts` says what became of every record and span:
    records, dead_letters, spans, events, ignored, with_issues."""

    def __init__(self, producer: AuditProducer, config: OtlpIngestConfig) -> None:
        self.producer = producer
        self.config = config
        self.content = ContentWriter.of(producer)
        self.counts: Counter[str] = Counter()
        self._letters: Producer | None = None
        self._refused: list[str] = []
        self._pending: dict[tuple[str, int], int] = {}

    # -- one record ----------------------------------------------------------------
    def take(self, message: Message) -> None:
        """Turn one OTLP record into events, or into a dead letter."""
        self.counts["records"] += 1
        value = message.value() or b""
        try:
            spans = otlp.spans_of(otlp.parse_request(value))
        except AdapterError as exc:
            detail = f"not an OTLP {otlp.MESSAGE_TYPE}: {exc.detail}"
            self._dead_letter(message, sealed.DEAD_LETTER_REASON_UNPARSEABLE, detail)
            return
        tenant = self.producer.config.tenant_id
        for span in spans:
            self.counts["spans"] += 1
            try:
                entry = genai.span_entry(span, self.content, tenant_id=tenant)
            except Exception as exc:
                log.exception("span %r could not be mapped; recording it with the error", span.name)
                entry = unmappable_entry(span.name, span.start_ns, tenant, exc)
            if entry is None:
                self.counts["ignored"] += 1
                continue
            if entry.validation_issues:
                self.counts["with_issues"] += 1
            self.producer.emit(entry)
            self.counts["events"] += 1

    def _dead_letter(self, message: Message, reason: int, detail: str) -> None:
        log.warning(
            "OTLP record %s[%s]@%s dead-lettered: %s",
            message.topic(),
            message.partition(),
            message.offset(),
            detail,
        )
        letters = self._dead_letters()
        value = dead_letter(message, reason, detail, time.time_ns())
        while True:
            try:
                letters.produce(
                    self.config.deadletter_topic,
                    key=message.key(),
                    value=value,
                    on_delivery=self._delivered,
                )
                break
            except BufferError:
                letters.poll(0.1)
        letters.poll(0)
        self.counts["dead_letters"] += 1

    def _delivered(self, error: KafkaError | None, message: Message) -> None:
        if error is not None:
            self._refused.append(str(error))

    def _dead_letters(self) -> Producer:
        if self._letters is None:
            self._letters = Producer(
                {
                    **self.config.kafka.librdkafka(ConnectionErrors(self.config.kafka)),
                    "enable.idempotence": True,
                    "acks": "all",
                    "linger.ms": 5,
                    "logger": KAFKA_LOGGER,
                    **self.config.client_settings,
                }
            )
        return self._letters

    # -- the loop ------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        """Consume until `stop` is set; acknowledge and commit what was taken at the end."""
        consumer = sink_consumer(
            self.config.kafka, self.config.group_id, self.config.client_settings
        )

        def revoked(consumer: Any, partitions: list[TopicPartition]) -> None:
            self._commit(consumer)
            for tp in partitions:  # another member re-reads them (duplicates are dropped)
                self._pending.pop((tp.topic, tp.partition), None)

        consumer.subscribe([self.config.topic], on_revoke=revoked)
        last_commit = time.monotonic()
        try:
            self.producer.start()
            while not stop.is_set():
                for message in consumer.consume(num_messages=self.config.max_messages, timeout=0.2):
                    error = message.error()
                    if error is not None:
                        if error.code() != KafkaError._PARTITION_EOF:
                            log.warning("kafka: %s", error)
                        continue
                    self.take(message)
                    self._pending[(message.topic() or "", message.partition() or 0)] = (
                        message.offset() or 0
                    ) + 1
                if time.monotonic() - last_commit >= self.config.commit_interval_s:
                    self._commit(consumer)
                    last_commit = time.monotonic()
            self._commit(consumer)
        finally:
            consumer.close()

    def _commit(self, consumer: Any) -> bool:
        """Commit the offsets of everything taken, once it is all acknowledged."""
        if not self._pending:
            return True
        timeout = self.config.flush_timeout_s
        if self._letters is not None and self._letters.flush(timeout) != 0:
            log.error("dead letters not acknowledged within %.0f s; offsets not committed", timeout)
            return False
        if self._refused:
            raise IngestError(f"Kafka refused a dead letter: {self._refused[0]}")
        if not self.producer.flush(timeout):
            log.error("audit events not acknowledged within %.0f s; offsets not committed", timeout)
            return False
        offsets = [TopicPartition(t, p, o) for (t, p), o in self._pending.items()]
        try:
            consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            log.warning("offset commit deferred (records will be re-read if this fails): %s", exc)
            return False
        self._pending.clear()
        self.counts["commits"] += 1
        return True

    def health(self) -> dict[str, Any]:
        return {"ok": True, **self.counts}
