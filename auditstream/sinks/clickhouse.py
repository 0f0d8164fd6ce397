"""The ClickHouse sink: sealed entries and checkpoints from Kafka into tables.

Batches by size or age (defaults follow ClickHouse's advice: 10,000 rows or 1 s),
inserts, and only then commits the Kafka offsets. On start it reads what each chain
already has, so a replay after a crash (inserted, not yet committed) adds no row twice.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, KafkaError, Message, TopicPartition
from prometheus_client import Counter, Histogram

from auditstream.clickhouse import schema
from auditstream.clickhouse.seqs import StoredSeqs
from auditstream.clickhouse.sql import ident
from auditstream.proto.v1 import sealed_pb2 as sealed
from auditstream.runtime import failpoints
from auditstream.settings.config import Topics
from auditstream.sinks.consumer import sink_consumer

log = logging.getLogger(__name__)

INSERTED = Counter("auditstream_sink_rows_total", "Rows inserted into ClickHouse", ["table"])
SKIPPED = Counter("auditstream_sink_skipped_total", "Entries already stored (replays)")
INSERT_SECONDS = Histogram(
    "auditstream_sink_insert_seconds",
    "Time of one batch insert",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


@dataclass(frozen=True)
class SinkConfig:
    bootstrap: str
    topics: Topics
    database: str = "auditstream"
    group_id: str = "auditstream-sink-clickhouse"
    batch_rows: int = 10_000
    batch_seconds: float = 1.0


class ClickHouseSink:
    """Consume, batch, insert, commit. `lock` serialises use of a shared client (chdb)."""

    def __init__(self, client: Any, config: SinkConfig, lock: threading.Lock | None = None) -> None:
        self.client = client
        self.config = config
        self.lock = lock or threading.Lock()
        self.rows_inserted = 0
        self._events: list[list[Any]] = []
        self._checkpoints: list[list[Any]] = []
        self._oldest = 0.0
        with self.lock:
            self.stored = StoredSeqs.load(client, config.database)
            table = f"{ident(config.database)}.audit_checkpoints"
            query = f"SELECT chain_id, tree_size FROM {table}"  # noqa: S608 - identifier checked
            self.checkpoints_stored = {(c, int(s)) for c, s in client.query(query).result_rows}
        self._consumer: Consumer | None = None

    def _consumer_for(self) -> Consumer:
        if self._consumer is None:
            self._consumer = sink_consumer(
                self.config.bootstrap,
                self.config.group_id,
                {"fetch.max.bytes": 32 * 1024 * 1024},
            )
            topics = self.config.topics
            self._consumer.subscribe([topics.sealed, topics.checkpoints], on_revoke=self._on_revoke)
        return self._consumer

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.flush()  # commit what we have before the partitions move

    def run(self, stop: threading.Event, on_batch: Callable[[], None] | None = None) -> None:
        """Consume until `stop` is set; flush what is pending at the end."""
        consumer = self._consumer_for()
        try:
            while not stop.is_set():
                for message in consumer.consume(num_messages=5000, timeout=0.2):
                    self._take(message)
                if self._due():
                    self.flush()
                    if on_batch is not None:
                        on_batch()
            self.flush()
        finally:
            consumer.close()
            self._consumer = None

    def _take(self, message: Message) -> None:
        error = message.error()
        if error is not None:
            if error.code() != KafkaError._PARTITION_EOF:
                log.warning("kafka: %s", error)
            return
        value = message.value() or b""
        if message.topic() == self.config.topics.checkpoints:
            checkpoint = sealed.Checkpoint.FromString(value)
            if (checkpoint.chain_id, checkpoint.tree_size) not in self.checkpoints_stored:
                self.checkpoints_stored.add((checkpoint.chain_id, checkpoint.tree_size))
                self._checkpoints.append(schema.checkpoint_row(checkpoint))
        else:
            entry = sealed.SealedEntry.FromString(value)
            if self.stored.has(entry.chain_id, entry.seq):
                SKIPPED.inc()
                return
            self.stored.add(entry.chain_id, entry.seq)
            self._events.append(schema.row(entry))
        if not self._oldest:
            self._oldest = time.monotonic()

    def _due(self) -> bool:
        pending = len(self._events) + len(self._checkpoints)
        if not pending:
            return False
        return (
            pending >= self.config.batch_rows
            or time.monotonic() - self._oldest >= self.config.batch_seconds
        )

    def flush(self) -> None:
        """Insert what is batched, then commit the consumed offsets."""
        database = self.config.database
        started = time.perf_counter()
        with self.lock:
            if self._events:
                self.client.insert(
                    f"{database}.audit_events", self._events, column_names=schema.COLUMNS
                )
            if self._checkpoints:
                self.client.insert(
                    f"{database}.audit_checkpoints",
                    self._checkpoints,
                    column_names=schema.CHECKPOINT_COLUMNS,
                )
        INSERT_SECONDS.observe(time.perf_counter() - started)
        INSERTED.labels("audit_events").inc(len(self._events))
        INSERTED.labels("audit_checkpoints").inc(len(self._checkpoints))
        self.rows_inserted += len(self._events)
        self._events, self._checkpoints, self._oldest = [], [], 0.0
        failpoints.hit("sink.after_insert")
        if self._consumer is not None:
            try:
                self._consumer.commit(asynchronous=False)
            except Exception as exc:  # nothing consumed yet, or a rebalance in progress
                if "_NO_OFFSET" not in str(exc):
                    raise
