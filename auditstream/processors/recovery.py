"""Reading back a partition's committed state from Kafka (read_committed).

Used when the processor takes over a raw partition: the chain snapshots from the
compacted state topic, and the tail of the sealed topic after them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition

from auditstream.core.chain import Link
from auditstream.errors import RecoveryError
from auditstream.proto.v1.sealed_pb2 import ChainSnapshot, SealedEntry
from auditstream.runtime.logs import KAFKA_LOGGER

log = logging.getLogger(__name__)
TRANSPORT = KafkaError._TRANSPORT  # broker went away; librdkafka reconnects by itself


@dataclass(frozen=True)
class PartitionState:
    snapshots: list[ChainSnapshot]
    tail: list[Link]


def _read(
    bootstrap: str, topic: str, partition: int, start: int, timeout: float
) -> Iterator[bytes]:
    """Every committed value of one partition from `start` to its current end."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
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
                        yield value
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


def _watermarks(bootstrap: str, topic: str, partition: int, timeout: float) -> tuple[int, int]:
    """Low and high offsets, retried while the broker is (re)starting."""
    probe = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "auditstream-recovery", "logger": KAFKA_LOGGER}
    )
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


def read_partition_state(
    bootstrap: str,
    *,
    state_topic: str,
    sealed_topic: str,
    partition: int,
    tail_entries: int,
    timeout: float = 120.0,
) -> PartitionState:
    """Latest snapshot per chain, and the last `tail_entries` sealed entries."""
    latest: dict[str, ChainSnapshot] = {}
    state_low, state_high = _watermarks(bootstrap, state_topic, partition, timeout)
    if state_high > state_low:
        for value in _read(bootstrap, state_topic, partition, OFFSET_BEGINNING, timeout):
            snapshot = ChainSnapshot.FromString(value)
            latest[snapshot.chain_id] = snapshot
    low, high = _watermarks(bootstrap, sealed_topic, partition, timeout)
    start = max(low, high - tail_entries)
    tail = (
        [
            Link.from_proto(SealedEntry.FromString(value))
            for value in _read(bootstrap, sealed_topic, partition, start, timeout)
        ]
        if high > low
        else []
    )
    log.info(
        "partition %d: %d chain snapshots, %d sealed entries read back from offset %d",
        partition,
        len(latest),
        len(tail),
        start,
    )
    return PartitionState(list(latest.values()), tail)
