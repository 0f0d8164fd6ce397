"""Reading back a partition's committed state from Kafka (read_committed).

Used when the processor takes over a raw partition: the chain snapshots from the
compacted state topic, and the tail of the sealed topic after them. How far back the
tail must reach follows from the newest flush of snapshots (`EngineConfig.tail_since_ns`):
every entry no snapshot covers was sealed after it. The checkpoints signed since then are
read too, so that a tree already signed is not signed a second time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition

from auditstream.core.chain import Link
from auditstream.errors import RecoveryError
from auditstream.proto.v1.sealed_pb2 import ChainSnapshot, Checkpoint, SealedEntry
from auditstream.runtime.logs import KAFKA_LOGGER
from auditstream.settings.connection import KafkaConnection

log = logging.getLogger(__name__)
TRANSPORT = KafkaError._TRANSPORT  # broker went away; librdkafka reconnects by itself


@dataclass(frozen=True)
class PartitionState:
    snapshots: list[ChainSnapshot]
    tail: list[Link]
    checkpoints: list[Checkpoint]


def _records(
    kafka: KafkaConnection, topic: str, partition: int, start: int, timeout: float
) -> Iterator[tuple[int, bytes]]:
    """(timestamp in ms, value) of every committed record of one partition from `start`
    to its current end."""
    consumer = Consumer(
        {
            **kafka.librdkafka(),
            "group.id": "auditstream-recovery",  # never commits; assign() only
            "logger": KAFKA_LOGGER,
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
            "enable.partition.eof": True,
            "fetch.max.bytes": 16 * 1024 * 1024,
        }
    )
    try:
        consumer.assign([TopicPartition(topic, partition, start)])
        deadline = time.monotonic() + timeout
        while True:
            messages = consumer.consume(num_messages=5000, timeout=0.2)
            for message in messages:
                error = message.error()
                if error is None:
                    value = message.value()
                    if value is not None:
                        yield message.timestamp()[1], value
                elif error.code() == KafkaError._PARTITION_EOF:
                    return
                elif error.fatal() or not (error.retriable() or error.code() == TRANSPORT):
                    raise RecoveryError(f"reading {topic}[{partition}]: {error}")
                else:
                    log.warning("reading %s[%d]: %s; retrying", topic, partition, error)
            if time.monotonic() > deadline:
                raise RecoveryError(f"reading {topic}[{partition}] took over {timeout:.0f} s")
    finally:
        consumer.close()


def _watermarks(
    kafka: KafkaConnection, topic: str, partition: int, timeout: float
) -> tuple[int, int]:
    """Low and high offsets, retried while the broker is (re)starting."""
    probe = _consumer(kafka)
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                low, high = probe.get_watermark_offsets(
                    TopicPartition(topic, partition), timeout=5.0
                )
                return int(low), int(high)
            except KafkaException as exc:
                if time.monotonic() > deadline:
                    raise RecoveryError(f"offsets of {topic}[{partition}]: {exc}") from exc
                log.warning("offsets of %s[%d] not available yet: %s", topic, partition, exc)
                time.sleep(1.0)
    finally:
        probe.close()


def _consumer(kafka: KafkaConnection) -> Consumer:
    return Consumer(
        {**kafka.librdkafka(), "group.id": "auditstream-recovery", "logger": KAFKA_LOGGER}
    )


def _offset_for_time(
    kafka: KafkaConnection, topic: str, partition: int, since_ms: int, high: int, timeout: float
) -> int:
    """The first offset at or after `since_ms` (`high` if everything is older)."""
    probe = _consumer(kafka)
    try:
        (found,) = probe.offsets_for_times([TopicPartition(topic, partition, since_ms)], timeout)
    except KafkaException as exc:
        raise RecoveryError(f"offsets of {topic}[{partition}] by time: {exc}") from exc
    finally:
        probe.close()
    return high if found.offset < 0 else int(found.offset)


def read_partition_state(
    kafka: KafkaConnection,
    *,
    state_topic: str,
    sealed_topic: str,
    checkpoints_topic: str,
    partition: int,
    tail_entries: int,
    tail_since_ns: Callable[[int], int],
    timeout: float = 120.0,
) -> PartitionState:
    """Latest snapshot per chain, and the sealed tail: at least the last `tail_entries`
    entries, and every entry sealed since `tail_since_ns(time of the newest snapshot)`;
    the newest checkpoint per chain signed since that time."""
    latest: dict[str, ChainSnapshot] = {}
    state_low, state_high = _watermarks(kafka, state_topic, partition, timeout)
    if state_high > state_low:
        for _, value in _records(kafka, state_topic, partition, OFFSET_BEGINNING, timeout):
            snapshot = ChainSnapshot.FromString(value)
            latest[snapshot.chain_id] = snapshot
    low, high = _watermarks(kafka, sealed_topic, partition, timeout)
    flushed_ns = max((s.snapshot_time.ToNanoseconds() for s in latest.values()), default=0)
    since_ms = tail_since_ns(flushed_ns) // 1_000_000
    by_time = (
        _offset_for_time(kafka, sealed_topic, partition, since_ms, high, timeout)
        if since_ms > 0
        else low
    )
    start = max(low, min(high - tail_entries, by_time))
    tail = (
        [
            Link.from_proto(SealedEntry.FromString(value))
            for _, value in _records(kafka, sealed_topic, partition, start, timeout)
        ]
        if high > low
        else []
    )
    checkpoints = _newest_checkpoints(kafka, checkpoints_topic, partition, since_ms, timeout)
    log.info(
        "partition %d: %d chain snapshots, %d sealed entries read back from offset %d, "
        "%d chains' checkpoints",
        partition,
        len(latest),
        len(tail),
        start,
        len(checkpoints),
    )
    return PartitionState(list(latest.values()), tail, checkpoints)


def _newest_checkpoints(
    kafka: KafkaConnection, topic: str, partition: int, since_ms: int, timeout: float
) -> list[Checkpoint]:
    """The newest checkpoint of each chain among those written since `since_ms`."""
    low, high = _watermarks(kafka, topic, partition, timeout)
    if high <= low:
        return []
    start = _offset_for_time(kafka, topic, partition, since_ms, high, timeout) if since_ms else low
    if start >= high:
        return []
    newest: dict[str, Checkpoint] = {}
    for _, value in _records(kafka, topic, partition, max(low, start), timeout):
        checkpoint = Checkpoint.FromString(value)
        known = newest.get(checkpoint.chain_id)
        if known is None or checkpoint.tree_size > known.tree_size:
            newest[checkpoint.chain_id] = checkpoint
    return list(newest.values())
