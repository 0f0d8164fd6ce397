"""The worker's hot path: consume raw records, seal them, publish, commit — exactly once.

One librdkafka consumer and one transactional producer (KIP-447: the consumer group's
metadata fences a worker that lost its partitions), in one thread of the Faust worker
(`processors.app`). Each round:

    consume up to `batch_size` raw records (waiting at most `batch_within_s`)
    seal each partition's records with its engine; add the checkpoints now due
    wait until the previous round's transaction has committed
    begin a transaction
      produce every output of partition p to partition p of its topic
      send the consumed offsets to the transaction
    commit the transaction, on the committer thread, while the next round consumes and seals

So the sealed entries, dead letters, checkpoints and chain snapshots of a record, and the
consumed offset that says it was processed, are committed together or not at all. At
most one transaction is in flight; the commit is a broker round trip that would
otherwise leave the loop idle, so the next round's sealing runs meanwhile. If that
commit fails, the transaction is aborted and the next round's sealing is dropped with
the engines that did it: the partitions both rounds touched are restored again from
Kafka and consumed again from their committed offsets.

Rebalances happen inside `consume`; a revocation first waits for the transaction in
flight. A newly assigned partition is restored from the state topic and the sealed tail
only after its committed offset was read, which waits until no transaction of its
previous owner is pending, so the state and the offset always describe the same moment.
Anything unexpected stops the process (`fail_stop`): the open transaction is never
committed, and whoever takes over recovers from committed state.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, NoReturn, cast

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)
from prometheus_client import Counter, Gauge, Histogram

from auditstream.core.validate import RawRecord
from auditstream.errors import AuditStreamError
from auditstream.processors import DEFAULT_BATCH_SIZE
from auditstream.processors.engine import Outputs, PartitionSealer
from auditstream.runtime.logs import KAFKA_LOGGER
from auditstream.settings.config import Topics
from auditstream.settings.connection import ConnectionErrors, KafkaConnection

log = logging.getLogger(__name__)

# Idle partitions used to get such records from workers of earlier versions, so that
# time-based checkpoints were written in a transaction; they are skipped.
CONTROL_HEADER = "auditstream-control"
TICK = b"tick"
EXIT_FAIL_STOP = 70

CONSUMED = Counter("auditstream_processor_consumed_total", "Raw records consumed")
SEALED = Counter("auditstream_processor_sealed_total", "Entries sealed")
DEAD = Counter("auditstream_processor_dead_letters_total", "Dead letters by reason", ["reason"])
DUPLICATES = Counter("auditstream_processor_duplicates_total", "Duplicate event ids dropped")
DETECTED = Counter("auditstream_processor_detections_total", "Classifier detections", ["kind"])
CHECKPOINTS = Counter("auditstream_processor_checkpoints_total", "Signed checkpoints written")
RECOVERIES = Counter("auditstream_processor_recoveries_total", "Partition state recoveries")
ABORTS = Counter("auditstream_processor_aborted_transactions_total", "Transactions aborted")
UNCHECKPOINTED = Gauge(
    "auditstream_processor_unchecked_entries",
    "Entries not yet covered by a checkpoint",
    ["partition"],
)
BATCH_SECONDS = Histogram(
    "auditstream_processor_batch_seconds",
    "Time to seal, publish and commit one batch",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)


class TransactionAbortedError(AuditStreamError):
    """A transaction could not commit; it was aborted and its partitions are replayed."""


class StalledError(AuditStreamError):
    """Records wait on an assigned partition but none has come for too long."""


@dataclass(frozen=True)
class LoopConfig:
    kafka: KafkaConnection
    topics: Topics
    group_id: str
    transactional_id: str
    batch_size: int = DEFAULT_BATCH_SIZE
    batch_within_s: float = 0.05
    session_timeout_s: float = 10.0
    recovery_timeout_s: float = 300.0
    # Longer than any transaction takes, short enough that a killed worker's open
    # transaction does not hold back readers (read_committed) for long.
    transaction_timeout_s: float = 15.0
    request_timeout_s: float = 30.0
    # Records waiting on an assigned partition and none consumed for this long: the
    # consumer is wedged (seen after a broker restart), so the worker fail-stops.
    stall_timeout_s: float = 60.0
    # A round (or one partition's restore) that has not finished after this long is
    # stuck in a client call (also seen after a broker restart): the worker fail-stops.
    # A false alarm costs only a restart (which recovers from committed state).
    hang_timeout_s: float = 90.0


def fail_stop(what: str) -> NoReturn:
    """Exit the process at once, without a graceful shutdown.

    Whatever transaction is open is never committed (the broker aborts it), and the
    worker that takes over (after a restart by the supervisor) recovers from committed
    state and processes the batch again. Carrying on inside this process could commit
    offsets past records whose outputs were lost.
    """
    log.critical("%s; exiting so that nothing after it is committed", what, exc_info=True)
    logging.shutdown()
    os._exit(EXIT_FAIL_STOP)


Restore = Callable[[int], PartitionSealer]


@dataclass(frozen=True)
class _InFlight:
    """A transaction whose commit runs on the committer thread."""

    commit: Future[None]
    partitions: frozenset[int]  # partitions whose offsets or outputs it holds
    outputs: Sequence[tuple[int, Outputs]]
    consumed: int  # raw records
    started: float  # perf_counter when its outputs began to be produced


class SealingLoop:
    """Consumes the raw topic and seals it, one transaction per round. Not thread-safe:
    `run` owns it; `health` may be read from other threads."""

    def __init__(self, config: LoopConfig, restore: Restore) -> None:
        self.config = config
        self._restore = restore  # reads a partition's state back and returns its engine
        self.engines: dict[int, PartitionSealer] = {}
        self.rounds = 0  # consume calls, busy or idle
        self.transactions = 0  # committed
        self.recoveries = 0
        self._assigned: set[int] = set()
        self._stale: set[int] = set()  # assigned, not restored yet
        self._consumer: Consumer | None = None
        self._producer: Producer | None = None
        self._committer = ThreadPoolExecutor(1, thread_name_prefix="auditstream-commit")
        self._inflight: _InFlight | None = None
        self._reseek: set[int] = set()  # stale after an abort: consumed again from committed
        self._progress_at = time.monotonic()  # records last consumed, or last checked
        self.heartbeat = time.monotonic()  # a round or a partition's restore last finished

    # -- the loop ------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        """Seal until `stop` is set. Raises only on errors that need the process to stop."""
        consumer = self._consumer = Consumer(self._consumer_config())
        producer = self._producer = Producer(self._producer_config())
        producer.init_transactions(self.config.request_timeout_s)
        consumer.subscribe(
            [self.config.topics.raw],
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_revoke,
        )
        log.info(
            "sealing %s as %s (transactional id %s)",
            self.config.topics.raw,
            self.config.group_id,
            self.config.transactional_id,
        )
        try:
            while not stop.is_set():
                self.round(consumer, producer)
                self.heartbeat = time.monotonic()
            self._settle(producer)  # the last transaction commits before the consumer leaves
        finally:
            consumer.close()
            self._committer.shutdown(wait=False)  # a commit in flight ends on its own
            self._consumer = self._producer = None

    def round(self, consumer: Consumer, producer: Producer) -> None:
        messages = consumer.consume(self.config.batch_size, self.config.batch_within_s)
        self.rounds += 1
        if self._stale:
            self._settle(producer)  # a restore reads committed state: ours first
            replayed = self._restore_stale(consumer)
            if replayed:  # consumed past what an abort took back; they come again
                messages = [m for m in messages if m.partition() not in replayed]
        if messages:
            self._progress_at = time.monotonic()
        elif time.monotonic() - self._progress_at > self.config.stall_timeout_s:
            self._check_stalled(consumer)
        records, offsets = self._records(messages)
        now_ns = time.time_ns()
        outputs: list[tuple[int, Outputs]] = []
        for partition in sorted(self._assigned):
            engine = self.engines[partition]
            batch = records.get(partition)
            out = engine.process(batch, now_ns) if batch else engine.due(now_ns)
            if out:
                outputs.append((partition, out))
        touched = frozenset(offsets.keys() | dict(outputs).keys())
        if not self._settle(producer, also=touched):
            self._restore_stale(consumer)  # this round's sealing went with the engines
            return
        if not touched:
            return
        started = time.perf_counter()
        try:
            self._transact(consumer, producer, outputs, offsets)
        except TransactionAbortedError as exc:
            log.warning("%s; replaying partitions %s", exc, sorted(touched))
            self._forget(touched)
            self._restore_stale(consumer)
            return
        consumed = sum(len(r) for r in records.values())
        commit = self._committer.submit(self._commit, producer)
        self._inflight = _InFlight(commit, touched, outputs, consumed, started)

    def _records(
        self, messages: Sequence[Message]
    ) -> tuple[dict[int, list[RawRecord]], dict[int, int]]:
        """Raw records by partition, and the offset to commit for each partition read."""
        records: dict[int, list[RawRecord]] = {}
        offsets: dict[int, int] = {}
        topic = self.config.topics.raw
        for message in messages:
            error = message.error()
            if error is not None:
                if error.fatal():
                    raise KafkaException(error)
                if error.code() != KafkaError._PARTITION_EOF:
                    log.warning("consuming %s: %s", topic, error)
                continue
            partition, offset = message.partition() or 0, message.offset() or 0
            offsets[partition] = offset + 1
            headers = _headers(message)
            if (CONTROL_HEADER, TICK) in headers:
                continue
            records.setdefault(partition, []).append(
                RawRecord(
                    topic,
                    partition,
                    offset,
                    message.timestamp()[1],
                    message.key(),
                    message.value() or b"",
                    headers,
                )
            )
        return records, offsets

    # -- transactions --------------------------------------------------------------
    def _transact(
        self,
        consumer: Consumer,
        producer: Producer,
        outputs: Sequence[tuple[int, Outputs]],
        offsets: dict[int, int],
    ) -> None:
        timeout = self.config.request_timeout_s
        topics = self.config.topics
        try:
            producer.begin_transaction()
            for partition, out in outputs:
                for topic, items in (
                    (topics.sealed, out.sealed),
                    (topics.deadletter, out.dead_letters),
                    (topics.checkpoints, out.checkpoints),
                    (topics.state, out.snapshots),
                ):
                    for key, value in items:
                        _produce(producer, topic, partition, key, value)
            if offsets:
                positions = [TopicPartition(topics.raw, p, o) for p, o in offsets.items()]
                producer.send_offsets_to_transaction(
                    positions, consumer.consumer_group_metadata(), timeout
                )
        except KafkaException as exc:
            self._aborted(producer, exc)

    def _settle(self, producer: Producer, also: frozenset[int] = frozenset()) -> bool:
        """Wait for the transaction in flight to commit. If it could not, it is aborted
        and its partitions and `also` (sealed since on the same engines) are marked for
        replay; returns False then."""
        inflight, self._inflight = self._inflight, None
        if inflight is None:
            return True
        try:
            try:
                inflight.commit.result()
            except KafkaException as exc:
                self._aborted(producer, exc)
        except TransactionAbortedError as exc:
            replay = inflight.partitions | also
            log.warning("%s; replaying partitions %s", exc, sorted(replay))
            self._forget(replay)
            return False
        BATCH_SECONDS.observe(time.perf_counter() - inflight.started)
        self.transactions += 1
        CONSUMED.inc(inflight.consumed)
        for partition, out in inflight.outputs:
            _count(out)
            if (engine := self.engines.get(partition)) is not None:
                UNCHECKPOINTED.labels(str(partition)).set(engine.unchecked_entries)
        return True

    def _aborted(self, producer: Producer, exc: KafkaException) -> NoReturn:
        """Abort the open transaction after `exc`, and raise `TransactionAbortedError`;
        a fatal error (fenced, or the producer is unusable) is raised as it is."""
        error = _error_of(exc)
        if error is not None and error.fatal():
            raise exc  # only a restart helps
        self._abort(producer)
        ABORTS.inc()
        raise TransactionAbortedError(f"transaction aborted: {error or exc}") from exc

    def _commit(self, producer: Producer) -> None:
        """Commit, retrying what librdkafka says may be retried (e.g. a broker that is
        coming back) for up to a transaction timeout; anything else is raised for the
        caller to abort."""
        config = self.config
        _retrying(
            lambda: producer.commit_transaction(config.request_timeout_s),
            "committing the transaction",
            time.monotonic() + config.transaction_timeout_s,
        )

    def _abort(self, producer: Producer) -> None:
        """Abort, retrying what librdkafka says may be retried (an abort that timed out
        is resumed by calling it again); anything else, or an abort that has not
        finished within a request and a transaction timeout, is raised and stops the
        worker: a producer whose transaction is neither committed nor aborted cannot
        begin another one."""
        config = self.config
        _retrying(
            lambda: producer.abort_transaction(config.request_timeout_s),
            "aborting the transaction",
            time.monotonic() + config.request_timeout_s + config.transaction_timeout_s,
        )

    def _forget(self, partitions: Iterable[int]) -> None:
        """After an abort: drop what the engines sealed; the next restore rebuilds them
        and consumes the partitions again from their committed offsets."""
        parts = set(partitions) & self._assigned
        for partition in parts:
            self.engines.pop(partition, None)
        self._stale |= parts
        self._reseek |= parts

    def _check_stalled(self, consumer: Consumer) -> None:
        """Raise `StalledError` if an assigned partition has records past the consumer's
        position although nothing came for the stall timeout. A partition the consumer
        has not read from since it was assigned has no position yet: the group's
        committed offset stands for it (an idle partition, all of it sealed before, is
        not stalled)."""
        self._progress_at = time.monotonic()  # check at most once per timeout
        topic = self.config.topics.raw
        timeout = self.config.request_timeout_s
        for partition in sorted(self._assigned):
            tp = TopicPartition(topic, partition)
            try:
                position = consumer.position([tp])[0].offset
                if position < 0:
                    position = consumer.committed([tp], timeout)[0].offset
                low, high = consumer.get_watermark_offsets(tp, timeout=timeout, cached=False)
            except KafkaException as exc:
                log.warning("cannot tell whether partition %d waits: %s", partition, exc)
                continue
            if high > max(position, low):
                raise StalledError(
                    f"partition {partition}: records up to offset {high} wait at position "
                    f"{position}, none consumed for {self.config.stall_timeout_s:.0f} s"
                )

    # -- partitions ----------------------------------------------------------------
    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        mine = {tp.partition for tp in partitions if tp.topic == self.config.topics.raw}
        # Another worker may have sealed on these partitions since we last held them.
        for partition in mine:
            self.engines.pop(partition, None)
        self._assigned |= mine
        self._stale |= mine
        log.info("assigned partitions %s", sorted(mine))

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        gone = {tp.partition for tp in partitions if tp.topic == self.config.topics.raw}
        if self._producer is not None:
            self._settle(self._producer)  # committed or aborted before the partitions move
        for partition in gone:
            self.engines.pop(partition, None)
        self._assigned -= gone
        self._stale -= gone
        self._reseek -= gone
        log.info("partitions %s revoked", sorted(gone))

    def _restore_stale(self, consumer: Consumer) -> set[int]:
        """Restore the engines of partitions assigned (or replayed) since the last round.

        Their committed offsets are read first: the broker answers only once no
        transaction of a previous owner is pending on them (KIP-447), so the state read
        next is the state at those offsets. Replayed partitions are consumed again from
        those offsets, which are returned."""
        if not self._stale:
            return set()
        topic = self.config.topics.raw
        parts = sorted(self._stale)
        committed = self._committed(consumer, [TopicPartition(topic, p) for p in parts])
        for partition in parts:
            started = time.monotonic()
            engine = self._restore(partition)
            self.heartbeat = time.monotonic()
            self.engines[partition] = engine
            self.recoveries += 1
            RECOVERIES.inc()
            log.info(
                "partition %d recovered in %.2f s: %d chains",
                partition,
                time.monotonic() - started,
                engine.chain_count,
            )
        replayed = self._reseek & set(parts)
        for tp in committed:
            if tp.partition in replayed:
                offset = tp.offset if tp.offset >= 0 else OFFSET_BEGINNING
                consumer.seek(TopicPartition(topic, tp.partition, offset))
        self._stale.clear()
        self._reseek.clear()
        self._progress_at = time.monotonic()  # the stall clock starts again after a restore
        return replayed

    def _committed(
        self, consumer: Consumer, partitions: list[TopicPartition]
    ) -> list[TopicPartition]:
        """The group's committed offsets of `partitions`.

        The broker answers once no transaction of a previous owner is pending on them, so
        this may wait about a transaction timeout. It is not retried: when the group
        coordinator has moved (a broker restart), the consumer must rejoin the group,
        which only the consume loop can serve, so waiting here cannot help. The error
        ends the worker (fail-stop, nothing committed after the abort); its restart, or
        another member of the group, takes the partitions over."""
        timeout = min(self.config.recovery_timeout_s, 2 * self.config.transaction_timeout_s + 10)
        return consumer.committed(partitions, timeout)

    # -- settings ------------------------------------------------------------------
    def _consumer_config(self) -> dict[str, Any]:
        config = self.config
        return {
            **config.kafka.librdkafka(ConnectionErrors(config.kafka)),
            "group.id": config.group_id,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
            "session.timeout.ms": int(config.session_timeout_s * 1000),
            "heartbeat.interval.ms": int(min(3.0, config.session_timeout_s / 3) * 1000),
            # A round may include restoring partitions, which may take a while.
            "max.poll.interval.ms": int((config.recovery_timeout_s + 60) * 1000),
            "fetch.max.bytes": 32 * 1024 * 1024,
            "max.partition.fetch.bytes": 8 * 1024 * 1024,
            "logger": KAFKA_LOGGER,
        }

    def _producer_config(self) -> dict[str, Any]:
        config = self.config
        return {
            **config.kafka.librdkafka(ConnectionErrors(config.kafka)),
            "transactional.id": config.transactional_id,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            "batch.size": 1024 * 1024,
            "message.max.bytes": 4 * 1024 * 1024,
            "queue.buffering.max.messages": 1_000_000,
            "queue.buffering.max.kbytes": 1024 * 1024,
            "transaction.timeout.ms": int(config.transaction_timeout_s * 1000),
            "logger": KAFKA_LOGGER,
        }

    def health(self) -> dict[str, Any]:
        engines = dict(self.engines)
        return {
            "ok": True,
            "partitions": sorted(engines),
            "chains": sum(e.chain_count for e in engines.values()),
            "batches": self.rounds,  # rounds of the loop, each at most one batch
            "transactions": self.transactions,
            "recoveries": self.recoveries,
        }


def _retrying(call: Callable[[], None], what: str, deadline: float) -> None:
    """Run `call` until it succeeds; a retriable Kafka error is retried until the
    monotonic `deadline`, anything else (or a retriable error past it) is raised."""
    while True:
        try:
            call()
            return
        except KafkaException as exc:
            error = _error_of(exc)
            if error is None or not error.retriable() or time.monotonic() > deadline:
                raise
            log.warning("%s: %s; retrying", what, error)


def _produce(
    producer: Producer, topic: str, partition: int, key: str | bytes | None, value: bytes
) -> None:
    while True:
        try:
            producer.produce(topic, value, key, partition)
            return
        except BufferError:  # librdkafka's queue is full: let it send
            producer.poll(0.05)


def _headers(message: Message) -> list[tuple[str, bytes]]:
    """A consumed record's headers: a consumer gives a list of (name, bytes or None)."""
    found = cast("list[tuple[str, bytes | None]] | None", message.headers())
    return [(name, value or b"") for name, value in found] if found else []


def _error_of(exc: KafkaException) -> KafkaError | None:
    error = exc.args[0] if exc.args else None
    return error if isinstance(error, KafkaError) else None


def _count(out: Outputs) -> None:
    counts = out.counts
    SEALED.inc(counts["sealed"])
    DUPLICATES.inc(counts["duplicate"])
    CHECKPOINTS.inc(counts["checkpoints"])
    for name, count in counts.items():
        if name.startswith("dead_letter:"):
            DEAD.labels(name.split(":", 1)[1]).inc(count)
        elif name.startswith("detected:"):
            DETECTED.labels(name.split(":", 1)[1]).inc(count)
