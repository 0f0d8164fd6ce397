"""The ClickHouse sink: sealed entries and checkpoints from Kafka into tables.

Batches by size or age (defaults follow ClickHouse's advice: 10,000 rows or 1 s),
inserts, and only then commits the Kafka offsets (`sinks.base`). Before consuming it
reads what each chain already has, so a replay after a crash (inserted, not yet
committed) adds no row twice.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Message
from prometheus_client import Counter, Histogram

from auditstream.clickhouse import schema
from auditstream.clickhouse.client import ClickHouseClient
from auditstream.clickhouse.seqs import stored_seqs
from auditstream.clickhouse.sql import ident
from auditstream.core.seqs import StoredSeqs
from auditstream.proto.v1 import sealed_pb2 as sealed
from auditstream.runtime import failpoints
from auditstream.settings.config import Topics
from auditstream.sinks.base import SinkLoop, Written

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


@dataclass
class ClickHouseSink:
    """Consume, batch, insert, commit. `lock` serialises use of a shared client (chdb)."""

    client: ClickHouseClient
    config: SinkConfig
    lock: threading.Lock = field(default_factory=threading.Lock)
    rows_inserted: int = 0
    stored: StoredSeqs = field(default_factory=StoredSeqs)
    checkpoints_stored: set[tuple[str, int]] = field(default_factory=set)
    _events: list[list[Any]] = field(default_factory=list)
    _checkpoints: list[list[Any]] = field(default_factory=list)
    _oldest: float = 0.0

    def run(self, stop: threading.Event, on_batch: Callable[[], None] | None = None) -> None:
        """Consume until `stop` is set; insert what is pending at the end."""
        config = self.config
        settings = {"fetch.max.bytes": 32 * 1024 * 1024}
        SinkLoop(self, config.bootstrap, config.group_id, config.topics, settings).run(
            stop, on_batch
        )

    # -- the Writer protocol ----------------------------------------------------------
    def load(self) -> None:
        database = self.config.database
        table = f"{ident(database)}.audit_checkpoints"
        with self.lock:
            self.stored = stored_seqs(self.client, database)
            rows = self.client.query(f"SELECT chain_id, tree_size FROM {table}").result_rows  # noqa: S608 - identifier checked
        self.checkpoints_stored = {(str(chain), int(size)) for chain, size in rows}

    def take(self, message: Message) -> None:
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

    def due(self) -> bool:
        pending = len(self._events) + len(self._checkpoints)
        if not pending:
            return False
        return (
            pending >= self.config.batch_rows
            or time.monotonic() - self._oldest >= self.config.batch_seconds
        )

    def write(self, *, everything: bool) -> Written:
        """Insert everything batched (a batch is never split)."""
        database = self.config.database
        events, checkpoints = self._events, self._checkpoints
        started = time.perf_counter()
        with self.lock:
            if events:
                self.client.insert(f"{database}.audit_events", events, column_names=schema.COLUMNS)
            if checkpoints:
                self.client.insert(
                    f"{database}.audit_checkpoints",
                    checkpoints,
                    column_names=schema.CHECKPOINT_COLUMNS,
                )
        INSERT_SECONDS.observe(time.perf_counter() - started)
        INSERTED.labels("audit_events").inc(len(events))
        INSERTED.labels("audit_checkpoints").inc(len(checkpoints))
        self.rows_inserted += len(events)
        self._events, self._checkpoints, self._oldest = [], [], 0.0
        failpoints.hit("sink.after_insert")
        return Written(len(events) + len(checkpoints))
