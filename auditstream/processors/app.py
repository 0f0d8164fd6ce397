"""The Faust worker: raw records in, sealed entries, checkpoints and dead letters out.

Exactly once (docs/decisions/0006-processor-exactly-once.md):
- Faust's `exactly_once` gives each raw partition p a transactional producer whose
  transaction also commits p's consumer offsets.
- Every output for a record of partition p is written to partition p of its topic
  *through that producer*. (Faust would route outputs by the consumer's metadata, which
  does not know topics it does not read, and send them outside any transaction.)
- At the end of each batch the state of every touched chain goes, in the same
  transaction, to the compacted state topic. A worker that takes over p restores the
  chains from those snapshots plus the sealed entries after them, and remembers the
  event ids of that tail, so a record reprocessed after a crash is recognised.
- Idle partitions get "tick" records from the worker itself so that time-based
  checkpoints are also written inside a transaction that commits.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import defaultdict
from collections.abc import Awaitable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import faust
from faust.types import TP, EventT
from prometheus_client import Counter, Gauge, Histogram

from auditstream.core.classify import Classifier
from auditstream.core.content import DigestPolicy
from auditstream.core.deadletter import DeadLetterRecipient
from auditstream.core.keys import Keyring, NoteSigner
from auditstream.core.retention import Policy
from auditstream.core.validate import Limits, RawRecord, Validator
from auditstream.processors.engine import EngineConfig, Outputs, PartitionSealer
from auditstream.processors.recovery import read_partition_state
from auditstream.settings.config import Topics

log = logging.getLogger(__name__)

CONTROL_HEADER = "auditstream-control"
TICK = b"tick"

CONSUMED = Counter("auditstream_processor_consumed_total", "Raw records consumed")
SEALED = Counter("auditstream_processor_sealed_total", "Entries sealed")
DEAD = Counter("auditstream_processor_dead_letters_total", "Dead letters by reason", ["reason"])
DUPLICATES = Counter("auditstream_processor_duplicates_total", "Duplicate event ids dropped")
DETECTED = Counter("auditstream_processor_detections_total", "Classifier detections", ["kind"])
CHECKPOINTS = Counter("auditstream_processor_checkpoints_total", "Signed checkpoints written")
RECOVERIES = Counter("auditstream_processor_recoveries_total", "Partition state recoveries")
UNCHECKPOINTED = Gauge(
    "auditstream_processor_unchecked_entries",
    "Entries not yet covered by a checkpoint",
    ["partition"],
)
BATCH_SECONDS = Histogram(
    "auditstream_processor_batch_seconds",
    "Time to seal and publish one batch",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)


@dataclass(frozen=True)
class WorkerConfig:
    bootstrap: str
    topics: Topics
    keyring: Keyring
    signer: NoteSigner
    content: DigestPolicy
    policy: Policy
    state_dir: Path
    # Dead-letter originals are kept only encrypted for this key (None: not kept).
    dead_letters: DeadLetterRecipient | None = None
    app_id: str = "auditstream-processor"
    engine: EngineConfig = field(default_factory=EngineConfig)
    limits: Limits = field(default_factory=Limits)
    batch_size: int = 1000
    batch_within_s: float = 0.05
    commit_interval_s: float = 0.5
    tick_interval_s: float = 2.0
    # A member that died is noticed after this long; then its partitions move.
    session_timeout_s: float = 10.0
    recovery_timeout_s: float = 300.0


class ProcessorService:
    """The per-worker state: one engine per assigned partition, recovered lazily."""

    def __init__(self, app: faust.App, config: WorkerConfig) -> None:
        self.app = app
        self.config = config
        self.engines: dict[int, PartitionSealer] = {}
        self.locks: dict[int, asyncio.Lock] = defaultdict(asyncio.Lock)
        self.last_batch: dict[int, float] = {}
        self.recoveries = 0
        self.batches = 0
        validator = Validator(config.limits, config.content)
        classifier = Classifier(dead_letters=config.dead_letters)
        self._validator = validator
        self._classifier = classifier

    def transactional_id(self, partition: int) -> str:
        group = self.app.assignor.group_for_topic(self.config.topics.raw)
        return f"{self.app.conf.id}-{group}-{partition}"

    async def engine(self, partition: int) -> PartitionSealer:
        engine = self.engines.get(partition)
        if engine is None:
            engine = PartitionSealer(
                partition,
                keyring=self.config.keyring,
                signer=self.config.signer,
                validator=self._validator,
                classifier=self._classifier,
                policy=self.config.policy,
                config=self.config.engine,
            )
            started = time.monotonic()
            topics = self.config.topics
            state = await asyncio.get_running_loop().run_in_executor(
                None,
                lambda: read_partition_state(
                    self.config.bootstrap,
                    state_topic=topics.state,
                    sealed_topic=topics.sealed,
                    partition=partition,
                    tail_entries=max(self.config.engine.dedupe_window, 4 * self.config.batch_size),
                    timeout=self.config.recovery_timeout_s,
                ),
            )
            engine.restore(state.snapshots, state.tail)
            self.engines[partition] = engine
            self.recoveries += 1
            RECOVERIES.inc()
            log.info(
                "partition %d recovered in %.2f s: %d chains",
                partition,
                time.monotonic() - started,
                len(engine.chain_heads),
            )
        return engine

    def forget(self, partitions: Iterable[int]) -> None:
        for partition in partitions:
            self.engines.pop(partition, None)

    async def handle(self, events: list[EventT[bytes]]) -> None:
        by_partition: dict[int, list[EventT[bytes]]] = defaultdict(list)
        for event in events:
            by_partition[event.message.partition].append(event)
        started = time.perf_counter()
        for partition, group in by_partition.items():
            async with self.locks[partition]:
                await self._handle_partition(partition, group)
        BATCH_SECONDS.observe(time.perf_counter() - started)
        self.batches += 1

    async def _handle_partition(self, partition: int, events: list[EventT[bytes]]) -> None:
        engine = await self.engine(partition)
        records = []
        for event in events:
            message = event.message
            headers = record_headers(message.headers)
            if (CONTROL_HEADER, TICK) in headers:
                continue
            records.append(
                RawRecord(
                    message.topic,
                    message.partition,
                    message.offset,
                    int(message.timestamp * 1000),
                    message.key,
                    message.value or b"",
                    headers,
                )
            )
        CONSUMED.inc(len(records))
        now_ns = time.time_ns()
        out = engine.process(records, now_ns) if records else engine.due(now_ns)
        await self.publish(partition, out)
        UNCHECKPOINTED.labels(str(partition)).set(engine.unchecked_entries)
        self.last_batch[partition] = time.monotonic()

    async def publish(self, partition: int, out: Outputs) -> None:
        if not out:
            return
        topics = self.config.topics
        groups: list[tuple[str, Items]] = [
            (topics.sealed, out.sealed),
            (topics.deadletter, out.dead_letters),
            (topics.checkpoints, out.checkpoints),
            (topics.state, out.snapshots),
        ]
        delivered = await send_in_transaction(
            self.app.producer, self.transactional_id(partition), partition, groups
        )
        await asyncio.gather(*delivered)
        SEALED.inc(out.counts["sealed"])
        DUPLICATES.inc(out.counts["duplicate"])
        CHECKPOINTS.inc(out.counts["checkpoints"])
        for name, count in out.counts.items():
            if name.startswith("dead_letter:"):
                DEAD.labels(name.split(":", 1)[1]).inc(count)
            elif name.startswith("detected:"):
                DETECTED.labels(name.split(":", 1)[1]).inc(count)

    async def tick_idle(self, assigned: Iterable[int]) -> None:
        """Put a tick on idle assigned partitions so due checkpoints get written."""
        now = time.monotonic()
        idle = [
            p
            for p in assigned
            if p in self.engines and now - self.last_batch.get(p, 0) >= self.config.tick_interval_s
        ]
        producer = self.app.producer
        for partition in idle:
            await producer.send(
                self.config.topics.raw, None, b"", partition, None, [(CONTROL_HEADER, TICK)]
            )
            self.last_batch[partition] = now

    def health(self) -> dict[str, Any]:
        return {
            "ok": True,
            "partitions": sorted(self.engines),
            "chains": sum(len(e.chain_heads) for e in self.engines.values()),
            "batches": self.batches,
            "recoveries": self.recoveries,
        }


Items = Sequence[tuple[str | bytes | None, bytes]]


async def send_in_transaction(
    producer: Any, transactional_id: str, partition: int, groups: Iterable[tuple[str, Items]]
) -> list[Awaitable[Any]]:
    """Queue every (topic, items) group on `partition` in the open transaction of
    `transactional_id`; returns the delivery futures.

    Uses the aiokafka producer behind Faust's transaction, in whole batches: sending
    message by message through Faust costs ~10x more. Faust keeps those producers and
    their locks in private attributes; if a Faust release renames them, this falls back
    to Faust's public per-message send, which is slower but equally correct.
    """
    inner = getattr(producer, "_transaction_producers", {}).get(transactional_id)
    lock = getattr(producer, "_trn_locks", {}).get(transactional_id)
    pending: list[Awaitable[Any]] = []
    if inner is None or lock is None:
        for topic, items in groups:
            for key, value in items:
                pending.append(
                    await producer.send(
                        topic,
                        _key(key),
                        value,
                        partition,
                        None,
                        None,
                        transactional_id=transactional_id,
                    )
                )
        return pending
    async with lock:  # Faust commits under the same lock: no send between transactions
        for topic, items in groups:
            batch = inner.create_batch()
            for key, value in items:
                if batch.append(key=_key(key), value=value, timestamp=None) is None:
                    pending.append(await inner.send_batch(batch, topic, partition=partition))
                    batch = inner.create_batch()
                    if batch.append(key=_key(key), value=value, timestamp=None) is None:
                        raise ValueError(f"a {len(value)}-byte record does not fit a batch")
            if batch.record_count():
                pending.append(await inner.send_batch(batch, topic, partition=partition))
    return pending


def _key(key: str | bytes | None) -> bytes | None:
    return key.encode() if isinstance(key, str) else key


def record_headers(raw: Any) -> list[tuple[str, bytes]]:
    """Faust gives headers as a list of pairs or a mapping; values may be str."""
    items = raw.items() if isinstance(raw, Mapping) else (raw or ())
    return [(str(k), v if isinstance(v, bytes) else str(v).encode()) for k, v in items]


EXIT_FAIL_STOP = 70


def fail_stop(what: str) -> NoReturn:
    """Exit the process at once, without Faust's graceful shutdown.

    Faust would restart a crashed agent in place and carry on with the events after
    the failed batch; their acknowledgements would then commit offsets past events that
    were never sealed. Exiting instead leaves the failed batch uncommitted: its open
    transaction is aborted, and the worker that takes over (after a restart by the
    supervisor) recovers from committed state and processes the batch again.
    """
    log.critical("%s; exiting so that nothing after it is committed", what, exc_info=True)
    logging.shutdown()
    os._exit(EXIT_FAIL_STOP)


def build_app(config: WorkerConfig) -> tuple[faust.App, ProcessorService]:
    topics = config.topics
    app = faust.App(
        config.app_id,
        broker=f"kafka://{config.bootstrap}",
        store="memory://",
        processing_guarantee="exactly_once",
        topic_partitions=topics.partitions,
        topic_replication_factor=topics.replication_factor,
        topic_allow_declare=True,
        consumer_auto_offset_reset="earliest",
        broker_commit_interval=config.commit_interval_s,
        broker_commit_every=config.batch_size,
        broker_session_timeout=config.session_timeout_s,
        broker_heartbeat_interval=min(3.0, config.session_timeout_s / 3),
        datadir=str(config.state_dir / "faust"),
        web_enabled=False,
        producer_max_request_size=4 * 1024 * 1024,
        producer_max_batch_size=1024 * 1024,
        consumer_max_fetch_size=8 * 1024 * 1024,
    )
    service = ProcessorService(app, config)
    # Faust's decorators and signals are untyped; register through an Any view of the app.
    register: Any = app
    raw = app.topic(
        topics.raw,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        partitions=topics.partitions,
        internal=False,
    )

    async def seal(stream: Any) -> None:
        try:
            async for events in stream.take_events(config.batch_size, within=config.batch_within_s):
                await service.handle(list(events))
        except asyncio.CancelledError:
            raise
        except BaseException:
            fail_stop("sealing failed")

    async def tick() -> None:
        assigned = [tp.partition for tp in app.consumer.assignment() if tp.topic == topics.raw]
        await service.tick_idle(assigned)

    async def on_revoked(sender: Any, revoked: set[TP], **kwargs: Any) -> None:
        service.forget({tp.partition for tp in revoked if tp.topic == topics.raw})

    async def on_assigned(sender: Any, assigned: set[TP], **kwargs: Any) -> None:
        # Another worker may have written to these partitions meanwhile.
        service.forget({tp.partition for tp in assigned if tp.topic == topics.raw})

    register.agent(raw, name="seal")(seal)
    register.timer(interval=config.tick_interval_s)(tick)
    register.on_partitions_revoked.connect(on_revoked)
    register.on_partitions_assigned.connect(on_assigned)
    return app, service
