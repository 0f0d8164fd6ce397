"""The loop every sink runs: consume sealed entries and checkpoints, batch them, write
them durably, and only then commit the Kafka offsets.

A sink is a `Writer` (what to do with records, and when its batch is due) driven by
`SinkLoop` (the consumer, its errors, rebalances and commits). The consumer reads
committed records only, and uses a short session, so a crashed sink's partitions move to
its replacement after 10 s rather than the default 45 s. A replay after a crash (written,
not yet committed) is the writer's to recognise: each keeps what its store already holds.

A commit that fails for a passing reason (a rebalance, the group coordinator moving) is
kept and tried again a second later, also when no record arrives: the stream may be
idle, and the group's committed offsets must still reach what was written. Offsets are
committed only for partitions the sink owns at the time. While the group rebalances
they wait; once partitions are assigned, those the sink got back are committed and the
others dropped (their new owners replay from the offsets committed before, and the
writer there recognises what its store holds).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from auditstream.runtime.logs import KAFKA_LOGGER
from auditstream.settings.config import Topics
from auditstream.settings.connection import ConnectionErrors, KafkaConnection

log = logging.getLogger(__name__)
RETRY_COMMIT_S = 1.0  # a deferred commit is tried again after this long
# Commit failures a later commit recovers from: the write was durable, and a replay of
# the uncommitted records is recognised by the writer.
_DEFERRABLE = frozenset(
    {
        KafkaError.REBALANCE_IN_PROGRESS,
        KafkaError.ILLEGAL_GENERATION,
        KafkaError.UNKNOWN_MEMBER_ID,
        KafkaError._ASSIGNMENT_LOST,
        KafkaError._TRANSPORT,
        KafkaError.COORDINATOR_NOT_AVAILABLE,
        KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
        KafkaError.NOT_COORDINATOR,
        KafkaError._WAIT_COORD,  # the group coordinator died, and no new one is known yet
        KafkaError.REQUEST_TIMED_OUT,
    }
)


@dataclass(frozen=True, slots=True)
class Written:
    """What one write did: how many entries it stored, and the offsets now safe to
    commit (None: everything consumed so far)."""

    entries: int
    offsets: Sequence[TopicPartition] | None = None


class Writer(Protocol):
    def load(self) -> None:
        """Read what the store already holds (once, before consuming)."""

    def take(self, message: Message) -> None:
        """Add one record (never an error record) to the batch."""

    def due(self) -> bool:
        """Whether a write should happen now."""

    def write(self, *, everything: bool) -> Written:
        """Write what is due (all of it when `everything`), durably."""


def sink_consumer(
    kafka: KafkaConnection, group_id: str, settings: Mapping[str, Any] | None = None
) -> Consumer:
    """A consumer for `group_id`; `settings` add to or override these librdkafka ones."""
    return Consumer(
        {
            **kafka.librdkafka(ConnectionErrors(kafka)),
            "group.id": group_id,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
            "session.timeout.ms": 10_000,
            "logger": KAFKA_LOGGER,
            **(settings or {}),
        }
    )


@dataclass
class SinkLoop:
    """Runs a writer over the sealed and checkpoint topics of one consumer group."""

    writer: Writer
    kafka: KafkaConnection
    group_id: str
    topics: Topics
    consumer_settings: Mapping[str, Any] = field(default_factory=dict)
    max_messages: int = 5000
    _consumer: Consumer | None = None
    # Offsets whose commit was deferred, by (topic, partition), and when it failed.
    _deferred: dict[tuple[str, int], int] = field(default_factory=dict)
    _deferred_at: float = 0.0

    def run(self, stop: threading.Event, on_write: Callable[[], None] | None = None) -> None:
        """Consume until `stop` is set; write what is pending at the end."""
        self.writer.load()
        consumer = self._consumer = sink_consumer(self.kafka, self.group_id, self.consumer_settings)
        topics = [self.topics.sealed, self.topics.checkpoints]
        consumer.subscribe(topics, on_assign=self._on_assign, on_revoke=self._on_revoke)
        try:
            while not stop.is_set():
                for message in consumer.consume(num_messages=self.max_messages, timeout=0.2):
                    error = message.error()
                    if error is None:
                        self.writer.take(message)
                    elif error.code() != KafkaError._PARTITION_EOF:
                        log.warning("kafka: %s", error)
                if self.writer.due() and self._write(everything=False) and on_write is not None:
                    on_write()
                elif self._deferred and time.monotonic() - self._deferred_at >= RETRY_COMMIT_S:
                    self._commit([])
            self._write(everything=True)
        finally:
            consumer.close()
            self._consumer = None

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        owned = {(tp.topic, tp.partition) for tp in [*partitions, *consumer.assignment()]}
        self._deferred = {k: o for k, o in self._deferred.items() if k in owned}

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._write(everything=True)  # commit what we have before the partitions move

    def _write(self, *, everything: bool) -> int:
        written = self.writer.write(everything=everything)
        self._commit(written.offsets)
        return written.entries

    def _commit(self, offsets: Sequence[TopicPartition] | None) -> None:
        """Commit `offsets` (None: every position consumed), with any deferred earlier."""
        consumer = self._consumer
        if consumer is None:
            return
        owned = {(tp.topic, tp.partition) for tp in consumer.assignment()}
        if offsets is None:
            offsets = [tp for tp in consumer.position(consumer.assignment()) if tp.offset >= 0]
        pending = dict(self._deferred)
        for tp in offsets:
            key = (tp.topic, tp.partition)
            pending[key] = max(pending.get(key, tp.offset), tp.offset)
        self._deferred = {k: o for k, o in pending.items() if k not in owned}  # wait
        pending = {k: o for k, o in pending.items() if k in owned}
        if not pending:
            return
        try:
            consumer.commit(
                offsets=[TopicPartition(t, p, o) for (t, p), o in pending.items()],
                asynchronous=False,
            )
        except KafkaException as exc:
            error = exc.args[0] if exc.args else None
            code = error.code() if isinstance(error, KafkaError) else None
            if code == KafkaError._NO_OFFSET:
                return  # nothing consumed since the last commit
            if code in _DEFERRABLE:
                log.warning("offset commit deferred, retried in %.0f s: %s", RETRY_COMMIT_S, error)
                self._deferred |= pending
                self._deferred_at = time.monotonic()
                return
            raise
