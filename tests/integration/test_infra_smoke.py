"""Each service is real: transactions on Kafka, MergeTree on ClickHouse, Object Lock on S3."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from botocore.exceptions import ClientError
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from auditstream.archive import s3
from auditstream.settings.config import S3Settings

pytestmark = pytest.mark.integration


def create_topic(bootstrap: str, name: str, partitions: int = 2) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
    futures[name].result(timeout=30)


def consume_all(bootstrap: str, topic: str, expected: int, timeout: float = 30) -> list[bytes]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"g-{topic}",
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    values: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while len(values) < expected and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None:
                values.append(msg.value())
        # Drain briefly: nothing beyond `expected` may be visible.
        for _ in range(4):
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None:
                values.append(msg.value())
    finally:
        consumer.close()
    return values


def test_kafka_transactions_with_confluent_kafka(kafka_bootstrap: str, topic_name: str) -> None:
    create_topic(kafka_bootstrap, topic_name)
    producer = Producer(
        {
            "bootstrap.servers": kafka_bootstrap,
            "transactional.id": f"tx-{topic_name}",
            "enable.idempotence": True,
        }
    )
    producer.init_transactions(30)
    producer.begin_transaction()
    for i in range(10):
        producer.produce(topic_name, key=str(i % 3).encode(), value=f"committed-{i}".encode())
    producer.commit_transaction(30)
    producer.begin_transaction()
    producer.produce(topic_name, value=b"aborted")
    producer.flush(10)
    producer.abort_transaction(30)
    values = consume_all(kafka_bootstrap, topic_name, expected=10)
    assert sorted(values) == sorted(f"committed-{i}".encode() for i in range(10))


def test_kafka_transactions_with_aiokafka(kafka_bootstrap: str, topic_name: str) -> None:
    create_topic(kafka_bootstrap, topic_name)

    async def run() -> list[bytes]:
        producer = AIOKafkaProducer(
            bootstrap_servers=kafka_bootstrap, transactional_id=f"aio-{topic_name}"
        )
        await producer.start()
        try:
            async with producer.transaction():
                for i in range(5):
                    await producer.send(topic_name, f"aio-{i}".encode(), partition=i % 2)
            await producer.begin_transaction()
            await producer.send(topic_name, b"aborted", partition=0)
            await producer.abort_transaction()
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(
            topic_name,
            bootstrap_servers=kafka_bootstrap,
            isolation_level="read_committed",
            auto_offset_reset="earliest",
            group_id=f"aio-g-{topic_name}",
        )
        await consumer.start()
        values: list[bytes] = []
        try:
            batches = await consumer.getmany(timeout_ms=10_000)
            while sum(len(v) for v in batches.values()) and len(values) < 5:
                values.extend(m.value for v in batches.values() for m in v if m.value is not None)
                batches = await consumer.getmany(timeout_ms=2_000)
        finally:
            await consumer.stop()
        return values

    assert sorted(asyncio.run(run())) == sorted(f"aio-{i}".encode() for i in range(5))


def test_clickhouse_mergetree_round_trip(clickhouse: Any, ch_database: str) -> None:
    clickhouse.command(
        f"CREATE TABLE {ch_database}.smoke "
        "(id UInt64, actor LowCardinality(String), at DateTime64(3)) "
        "ENGINE = MergeTree PARTITION BY toYYYYMM(at) ORDER BY (actor, at)"
    )
    now = dt.datetime(2026, 11, 22, 12, 0, tzinfo=dt.UTC)
    rows = [[i, f"user-{i % 3}", now + dt.timedelta(seconds=i)] for i in range(1000)]
    clickhouse.insert(f"{ch_database}.smoke", rows, column_names=["id", "actor", "at"])
    result = clickhouse.query(
        f"SELECT actor, count(), max(id) FROM {ch_database}.smoke GROUP BY actor ORDER BY actor"
    )
    assert result.result_rows == [("user-0", 334, 999), ("user-1", 333, 997), ("user-2", 333, 998)]
    engine = clickhouse.query(
        "SELECT engine FROM system.tables WHERE database = {db:String} AND name = 'smoke'",
        parameters={"db": ch_database},
    ).result_rows
    assert engine == [("MergeTree",)]


def test_s3_object_lock_refuses_deletion(s3_settings: S3Settings, lock_bucket: str) -> None:
    client = s3.client(s3_settings)
    retain_until = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    first = client.put_object(
        Bucket=lock_bucket,
        Key="locked/segment-1",
        Body=b"sealed bytes",
        ObjectLockMode="COMPLIANCE",
        ObjectLockRetainUntilDate=retain_until,
    )
    version = first["VersionId"]
    retention = client.get_object_retention(
        Bucket=lock_bucket, Key="locked/segment-1", VersionId=version
    )
    assert retention["Retention"]["Mode"] == "COMPLIANCE"

    with pytest.raises(ClientError) as caught:
        client.delete_object(Bucket=lock_bucket, Key="locked/segment-1", VersionId=version)
    # AWS answers AccessDenied; MinIO answers InvalidRequest ("WORM protected").
    assert s3.error_code(caught.value) in ("AccessDenied", "InvalidRequest")

    with pytest.raises(ClientError):
        client.put_object_retention(
            Bucket=lock_bucket,
            Key="locked/segment-1",
            VersionId=version,
            Retention={"Mode": "GOVERNANCE", "RetainUntilDate": retain_until},
        )

    # An overwrite is a new version; the locked one stays, byte for byte.
    client.put_object(Bucket=lock_bucket, Key="locked/segment-1", Body=b"overwritten")
    old = client.get_object(Bucket=lock_bucket, Key="locked/segment-1", VersionId=version)
    assert old["Body"].read() == b"sealed bytes"
    versions = client.list_object_versions(Bucket=lock_bucket, Prefix="locked/")["Versions"]
    assert len(versions) == 2
