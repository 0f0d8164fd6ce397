"""What the demo reads back to know the pipeline caught up: stored and checkpointed
entries of its chains, and the records in its dead-letter topic."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaError

from auditstream.clickhouse.client import ClickHouseClient
from auditstream.clickhouse.sql import ident
from auditstream.runtime.logs import KAFKA_LOGGER
from auditstream.settings.connection import KafkaConnection


@dataclass(frozen=True)
class Stored:
    rows: int  # rows of the chains in audit_events
    sealed: int  # the chains' lengths (highest seq + 1, summed)
    covered: int  # entries covered by the newest checkpoint of each chain, summed


def stored(client: ClickHouseClient, database: str, chains: Sequence[str]) -> Stored:
    db = ident(database)
    params = {"chains": list(chains)}
    rows = client.query(
        f"SELECT sum(n), sum(seq_plus_one) FROM (SELECT chain_id, count() AS n, "  # noqa: S608 - identifier checked
        f"max(seq) + 1 AS seq_plus_one FROM {db}.audit_events "
        "WHERE chain_id IN {chains:Array(String)} GROUP BY chain_id)",
        parameters=params,
    ).result_rows
    covered = client.query(
        f"SELECT sum(size) FROM (SELECT max(tree_size) AS size "  # noqa: S608
        f"FROM {db}.audit_checkpoints "
        "WHERE chain_id IN {chains:Array(String)} GROUP BY chain_id)",
        parameters=params,
    ).result_rows
    return Stored(int(rows[0][0] or 0), int(rows[0][1] or 0), int(covered[0][0] or 0))


def dead_letters(kafka: KafkaConnection, topic: str, partitions: int, group_id: str) -> int:
    """Records in the dead-letter topic (read to its end, at most 30 s)."""
    consumer = Consumer(
        {
            **kafka.librdkafka(),
            "group.id": group_id,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
            "enable.partition.eof": True,
            "logger": KAFKA_LOGGER,
        }
    )
    consumer.subscribe([topic])
    count, at_end = 0, set[int]()
    deadline = time.monotonic() + 30
    try:
        while len(at_end) < partitions and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None:
                continue
            error = message.error()
            if error is None:
                count += 1
            elif error.code() == KafkaError._PARTITION_EOF:
                at_end.add(message.partition() or 0)
    finally:
        consumer.close()
    return count
