"""The ClickHouse sink: sealed entries and checkpoints from Kafka into tables.

Entries go in as ClickHouse parses them (`clickhouse.ingest`): per record Python reads
only the skeleton (chain, seq and the hash lengths, to skip what the table already holds
and to refuse malformed records), never the body. Batches are large by default (50,000
rows, 64 MiB or 1 s, whichever comes first; ClickHouse advises 10,000 to 100,000 rows
per insert); the offsets are committed only after the insert (`sinks.base`). Before
consuming it reads what each chain already has, so a replay after a crash (inserted,
not yet committed) adds no row twice.

A record it cannot store is not dropped: it goes to `sink_rejects` with the reason and
its bytes, in the same write. A body ClickHouse cannot parse fails the whole insert; the
sink then parses the batch's bodies itself, rejects those that are not SealedBody
messages and inserts the rest. An insert that fails for any other reason stops the sink
with the error, its offsets uncommitted.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import threading
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from clickhouse_connect.driver.exceptions import DatabaseError
from confluent_kafka import Message
from google.protobuf.message import DecodeError
from prometheus_client import Counter, Histogram

from auditstream.clickhouse import ingest, schema
from auditstream.clickhouse.client import ClickHouseClient
from auditstream.clickhouse.personal import PersonalCopies
from auditstream.clickhouse.seqs import stored_seqs
from auditstream.clickhouse.sql import ident
from auditstream.core.chain import is_valid_chain_id
from auditstream.core.hashes import HASH_SIZE
from auditstream.core.seqs import StoredSeqs
from auditstream.errors import ConfigError
from auditstream.proto.v1 import sealed_pb2 as sealed
from auditstream.runtime import failpoints
from auditstream.settings.config import Topics
from auditstream.settings.connection import KafkaConnection
from auditstream.sinks.base import SinkLoop, Written

log = logging.getLogger(__name__)
INSERTED = Counter("auditstream_sink_rows_total", "Rows inserted into ClickHouse", ["table"])
SKIPPED = Counter("auditstream_sink_skipped_total", "Entries already stored (replays)")
REJECTED = Counter("auditstream_sink_rejected_total", "Records written to sink_rejects")
INSERT_SECONDS = Histogram(
    "auditstream_sink_insert_seconds",
    "Time of one batch insert",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
REJECT_COLUMNS = ("rejected_time", "topic", "partition", "offset", "chain_id", "reason", "value")
_HASHES = ("prev_hash", "body_digest", "entry_hash", "mac")


@dataclass(frozen=True)
class SinkConfig:
    """Where to read and write, and when a batch is due (rows, bytes or age)."""

    kafka: KafkaConnection
    topics: Topics
    database: str = "auditstream"
    group_id: str = "auditstream-sink-clickhouse"
    batch_rows: int = 50_000
    batch_seconds: float = 1.0
    batch_bytes: int = 64 * 1024 * 1024

    def __post_init__(self) -> None:
        ident(self.database)
        if self.batch_rows < 1:
            raise ConfigError(f"batch_rows must be at least 1, not {self.batch_rows}")
        if not (math.isfinite(self.batch_seconds) and self.batch_seconds > 0):
            raise ConfigError(f"batch_seconds must be a positive number, not {self.batch_seconds}")
        if self.batch_bytes < 1024 * 1024:
            raise ConfigError(f"batch_bytes must be at least 1 MiB, not {self.batch_bytes}")


def envelope_problem(entry: sealed.SealedEntry) -> str:
    """Why a parsed SealedEntry cannot be stored ("" when it can)."""
    if not is_valid_chain_id(entry.chain_id):
        return f"chain id {entry.chain_id[:80]!r} is not valid"
    for name in _HASHES:
        size = len(getattr(entry, name))
        if size != HASH_SIZE:
            return f"{name} has {size} bytes, not {HASH_SIZE}"
    if not entry.body:
        return "sealed entry without a body"
    return ""


def checkpoint_problem(checkpoint: sealed.Checkpoint) -> str:
    """Why a parsed Checkpoint cannot be stored ("" when it can)."""
    if not is_valid_chain_id(checkpoint.chain_id):
        return f"chain id {checkpoint.chain_id[:80]!r} is not valid"
    if len(checkpoint.root_hash) != HASH_SIZE:
        return f"root_hash has {len(checkpoint.root_hash)} bytes, not {HASH_SIZE}"
    try:
        checkpoint.note.decode()
    except UnicodeDecodeError:
        return "note is not UTF-8"
    return ""


def reject_row(
    topic: str, partition: int, offset: int, chain_id: str, reason: str, value: bytes
) -> list[Any]:
    """A `sink_rejects` row."""
    return [dt.datetime.now(dt.UTC), topic, partition, offset, chain_id, reason, value]


@dataclass
class ClickHouseSink:
    """Consume, batch, insert, commit. `lock` serialises use of a shared client (chdb)."""

    client: ClickHouseClient
    config: SinkConfig
    lock: threading.Lock = field(default_factory=threading.Lock)
    # With the subject vault: clear copies of protected fields into audit_personal.
    personal: PersonalCopies | None = None
    rows_inserted: int = 0
    rows_rejected: int = 0
    stored: StoredSeqs = field(default_factory=StoredSeqs)
    checkpoints_stored: set[tuple[str, int]] = field(default_factory=set)
    _events: ingest.Frames = field(default_factory=ingest.Frames)
    _positions: array[int] = field(default_factory=lambda: array("q"))  # partition, offset
    _checkpoints: list[list[Any]] = field(default_factory=list)
    _rejects: list[list[Any]] = field(default_factory=list)
    _oldest: float = 0.0
    _taken: int = 0  # records taken since the last write, rows or not

    def run(self, stop: threading.Event, on_batch: Callable[[], None] | None = None) -> None:
        """Consume until `stop` is set; insert what is pending at the end."""
        config = self.config
        settings = {"fetch.max.bytes": 64 * 1024 * 1024}
        SinkLoop(
            self, config.kafka, config.group_id, config.topics, settings, max_messages=10_000
        ).run(stop, on_batch)

    # -- the Writer protocol ----------------------------------------------------------
    def load(self) -> None:
        database = self.config.database
        table = f"{ident(database)}.audit_checkpoints"
        with self.lock:
            ingest.require(self.client, database)
            self.stored = stored_seqs(self.client, database)
            rows = self.client.query(f"SELECT chain_id, tree_size FROM {table}").result_rows  # noqa: S608 - identifier checked
        self.checkpoints_stored = {(str(chain), int(size)) for chain, size in rows}

    def take(self, message: Message) -> None:
        value = message.value() or b""
        if message.topic() == self.config.topics.checkpoints:
            self._take_checkpoint(message, value)
        else:
            self._take_entry(message, value)
        self._taken += 1
        if not self._oldest:
            self._oldest = time.monotonic()

    def _take_entry(self, message: Message, value: bytes) -> None:
        entry = sealed.SealedEntry()
        try:
            entry.ParseFromString(value)
        except DecodeError:
            self._reject(message, "not a SealedEntry")
            return
        problem = envelope_problem(entry)
        if problem:
            self._reject(message, problem)
            return
        chain_id, seq = entry.chain_id, entry.seq
        if self.stored.has(chain_id, seq):
            SKIPPED.inc()
            return
        self.stored.add(chain_id, seq)
        self._events.add(value, entry.body)
        if self.personal is not None:
            self.personal.take(entry.body)
        self._positions.extend((message.partition() or 0, message.offset() or 0))

    def _take_checkpoint(self, message: Message, value: bytes) -> None:
        checkpoint = sealed.Checkpoint()
        try:
            checkpoint.ParseFromString(value)
        except DecodeError:
            self._reject(message, "not a Checkpoint")
            return
        problem = checkpoint_problem(checkpoint)
        if problem:
            self._reject(message, problem)
            return
        position = (checkpoint.chain_id, checkpoint.tree_size)
        if position not in self.checkpoints_stored:
            self.checkpoints_stored.add(position)
            self._checkpoints.append(schema.checkpoint_row(checkpoint))

    def _reject(self, message: Message, reason: str) -> None:
        topic, partition, offset = message.topic() or "", message.partition(), message.offset()
        log.warning("rejected %s[%s]@%s: %s", topic, partition, offset, reason)
        key = (message.key() or b"").decode("utf-8", "replace")
        value = message.value() or b""
        self._rejects.append(reject_row(topic, partition or 0, offset or 0, key, reason, value))

    def due(self) -> bool:
        """A batch is due by rows, bytes or age. Records that needed no row (replayed
        entries and checkpoints the store holds) count for age too: their offsets are
        committed by the write, even an empty one."""
        if not self._taken:
            return False
        events = self._events
        pending = len(events) + len(self._checkpoints) + len(self._rejects)
        config = self.config
        return (
            pending >= config.batch_rows
            or len(events.data) >= config.batch_bytes
            or time.monotonic() - self._oldest >= config.batch_seconds
        )

    def write(self, *, everything: bool) -> Written:
        """Insert everything batched (a batch is never split, except to take out rows
        ClickHouse cannot parse)."""
        database = self.config.database
        events, checkpoints = self._events, self._checkpoints
        started = time.perf_counter()
        with self.lock:
            if self.personal is not None:
                INSERTED.labels("audit_personal").inc(self.personal.insert(self.client, database))
            inserted = self._insert_events(events) if len(events) else 0
            if checkpoints:
                self.client.insert(
                    f"{database}.audit_checkpoints",
                    checkpoints,
                    column_names=schema.CHECKPOINT_COLUMNS,
                )
            rejects = self._rejects
            if rejects:
                self.client.insert(f"{database}.sink_rejects", rejects, column_names=REJECT_COLUMNS)
        INSERT_SECONDS.observe(time.perf_counter() - started)
        INSERTED.labels("audit_events").inc(inserted)
        INSERTED.labels("audit_checkpoints").inc(len(checkpoints))
        REJECTED.inc(len(rejects))
        self.rows_inserted += inserted
        self.rows_rejected += len(rejects)
        self._events, self._positions = ingest.Frames(), array("q")
        self._checkpoints, self._rejects, self._oldest, self._taken = [], [], 0.0, 0
        failpoints.hit("sink.after_insert")
        return Written(inserted + len(checkpoints) + len(rejects))

    def _insert_events(self, events: ingest.Frames) -> int:
        """Insert the batch; on a failure, take out the bodies that do not parse and
        insert the rest (what a failed insert stored in part is not inserted twice)."""
        database = self.config.database
        try:
            ingest.insert(self.client, database, events.data)
            return len(events)
        except DatabaseError as exc:
            bad = ingest.unparseable(events)
            if not bad:
                raise
            log.warning(
                "insert of %d rows failed (%s); %d bodies do not parse and go to sink_rejects",
                len(events),
                str(exc).splitlines()[0][:200],
                len(bad),
            )
        topic, positions = self.config.topics.sealed, self._positions
        for index, reason in bad.items():
            value = events.entry(index)
            chain_id = sealed.SealedEntry.FromString(value).chain_id
            partition, offset = positions[2 * index], positions[2 * index + 1]
            self._rejects.append(reject_row(topic, partition, offset, chain_id, reason, value))
        self.stored = stored_seqs(self.client, database)
        keep = [i for i in range(len(events)) if i not in bad and not self._stored(events, i)]
        ingest.insert(self.client, database, events.subset(keep).data)
        self.stored = stored_seqs(self.client, database)
        return len(keep)

    def _stored(self, events: ingest.Frames, index: int) -> bool:
        entry = sealed.SealedEntry.FromString(events.entry(index))
        return self.stored.has(entry.chain_id, entry.seq)
