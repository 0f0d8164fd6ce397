"""Creating and checking the pipeline's Kafka topics."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from auditstream.errors import ConfigError
from auditstream.runtime.logs import KAFKA_LOGGER
from auditstream.settings.config import Topics
from auditstream.settings.connection import KafkaConnection

log = logging.getLogger(__name__)
DAY_MS = 86_400_000


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    config: Mapping[str, str]


def pipeline_topics(topics: Topics) -> list[TopicSpec]:
    """Every topic the processor reads or writes. All share one partition count: a
    chain's raw records, sealed entries, checkpoints and state live on the same
    partition number, which is what makes their transactions line up."""
    p = topics.partitions
    return [
        TopicSpec(topics.raw, p, {"retention.ms": str(7 * DAY_MS)}),
        TopicSpec(topics.sealed, p, {"retention.ms": str(30 * DAY_MS)}),
        TopicSpec(topics.checkpoints, p, {"retention.ms": "-1"}),
        TopicSpec(topics.deadletter, p, {"retention.ms": str(90 * DAY_MS)}),
        TopicSpec(topics.state, p, {"cleanup.policy": "compact"}),
    ]


def replication_factor(kafka: KafkaConnection, topics: Topics, timeout: float = 30.0) -> int:
    """How many copies the pipeline's topics have: the configured number, else (-1)
    the number of replicas of the raw topic's first partition, as the cluster made it.
    (Reading the topic's metadata needs only the DESCRIBE every role has on it.)"""
    if topics.replication_factor > 0:
        return topics.replication_factor
    admin = AdminClient(kafka.librdkafka(), logger=KAFKA_LOGGER)
    found = admin.list_topics(topics.raw, timeout=timeout).topics.get(topics.raw)
    if found is None or found.error is not None or not found.partitions:
        raise ConfigError(f"topic {topics.raw!r} is not there to read its replication from")
    return len(found.partitions[0].replicas)


def ensure_topics(kafka: KafkaConnection, topics: Topics, timeout: float = 30.0) -> list[str]:
    """Create missing topics; refuse existing ones with another partition count. New
    topics get `topics.replication_factor` copies, the cluster's default if it is -1.
    Returns once the brokers' metadata shows every partition of them with a leader
    (a cluster's brokers learn of a new topic after its controller has created it).

    Returns the names created.
    """
    admin = AdminClient(kafka.librdkafka(), logger=KAFKA_LOGGER)
    specs = pipeline_topics(topics)
    existing = admin.list_topics(timeout=timeout).topics
    for spec in specs:
        found = existing.get(spec.name)
        if found is not None and len(found.partitions) != spec.partitions:
            raise ConfigError(
                f"topic {spec.name!r} has {len(found.partitions)} partitions, the pipeline needs "
                f"{spec.partitions} (all pipeline topics must have the same count)"
            )
    missing = [s for s in specs if s.name not in existing]
    if not missing:
        return []
    futures = admin.create_topics(
        [
            NewTopic(
                s.name,
                num_partitions=s.partitions,
                replication_factor=topics.replication_factor,
                config=dict(s.config),
            )
            for s in missing
        ],
        operation_timeout=timeout,
    )
    created = []
    for name, future in futures.items():
        try:
            future.result(timeout=timeout)
            created.append(name)
        except KafkaException as exc:
            error = exc.args[0] if exc.args else None
            if not (
                isinstance(error, KafkaError) and error.code() == KafkaError.TOPIC_ALREADY_EXISTS
            ):
                raise ConfigError(f"cannot create topic {name!r}: {exc}") from exc
    _wait_for_leaders(admin, [s for s in missing if s.name in created], timeout)
    log.info("created topics %s", ", ".join(created))
    return created


def _wait_for_leaders(admin: AdminClient, specs: list[TopicSpec], timeout: float) -> None:
    """Until three metadata answers in a row show every partition of `specs` with a
    leader (one answer comes from one broker; the others may not have caught up)."""
    deadline = time.monotonic() + timeout
    in_a_row = 0
    while in_a_row < 3:
        known = admin.list_topics(timeout=timeout).topics
        lacking = [
            spec.name
            for spec in specs
            if spec.name not in known
            or len(known[spec.name].partitions) != spec.partitions
            or any(p.leader < 0 for p in known[spec.name].partitions.values())
        ]
        in_a_row = 0 if lacking else in_a_row + 1
        if lacking and time.monotonic() > deadline:
            raise ConfigError(
                f"topics created, but not served with a leader after {timeout:.0f} s: "
                + ", ".join(lacking)
            )
        time.sleep(0.1)
