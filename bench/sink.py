"""ClickHouse sink throughput: sealed entries from Kafka into embedded ClickHouse.

    python bench/sink.py [--quick] [--events N]

sink_rows_per_s  ClickHouseSink consuming a backlog of N sealed entries (and their
                 checkpoints) until all are inserted
ceiling          clickhouse-connect's bare insert of the same rows, batches of 10,000
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

import _common
import _sealed
import _services
from confluent_kafka import Producer

from auditstream.clickhouse import migrations, schema
from auditstream.clickhouse.client import connect
from auditstream.proto.v1 import sealed_pb2 as sealed
from auditstream.settings.config import Topics
from auditstream.settings.resources import schemas_dir
from auditstream.sinks.clickhouse import ClickHouseSink, SinkConfig
from tests.support.infra import unique
from tests.support.pipeline import create_pipeline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="50k events")
    parser.add_argument("--events", type=int, default=300_000)
    args = parser.parse_args()
    total = 50_000 if args.quick else args.events
    table_rows = [r for chunk in _sealed.sealed_rows(total, tenants=4, shards=2) for r in chunk]
    entries = [
        sealed.SealedEntry(
            chain_id=r[1],
            seq=r[2],
            prev_hash=r[3],
            body_digest=r[4],
            entry_hash=r[5],
            key_id=r[6],
            mac=r[7],
            body=r[-1],
        ).SerializeToString()
        for r in table_rows
    ]
    with _services.kafka_bootstrap() as bootstrap, tempfile.TemporaryDirectory() as tmp:
        topics, _ = create_pipeline(bootstrap, 4, Path(tmp))
        producer = Producer(
            {"bootstrap.servers": bootstrap, "linger.ms": 20, "partitioner": "murmur2_random"}
        )
        for r, value in zip(table_rows, entries, strict=True):
            while True:
                try:
                    producer.produce(f"{topics.prefix}.sealed", key=r[1].encode(), value=value)
                    break
                except BufferError:
                    producer.poll(0.1)
        assert producer.flush(300) == 0
        client = connect(f"chdb://{tmp}/store")
        for name in ("viasink", "bare"):
            migrations.migrate(
                client, schemas_dir() / "clickhouse", migrations.Target(database=name)
            )
        settings = Topics(
            raw=f"{topics.prefix}.raw",
            sealed=f"{topics.prefix}.sealed",
            checkpoints=f"{topics.prefix}.checkpoints",
            deadletter=f"{topics.prefix}.deadletter",
            state=f"{topics.prefix}.state",
            partitions=4,
        )
        sink = ClickHouseSink(
            client, SinkConfig(bootstrap, settings, "viasink", group_id=unique("bench"))
        )
        stop = threading.Event()
        thread = threading.Thread(target=sink.run, args=(stop,), daemon=True)
        started = time.perf_counter()
        thread.start()
        while sink.rows_inserted < total:
            time.sleep(0.05)
        rate = total / (time.perf_counter() - started)
        stop.set()
        thread.join(60)

        def bare() -> int:
            for i in range(0, len(table_rows), 10_000):
                client.insert(
                    "bare.audit_events", table_rows[i : i + 10_000], column_names=schema.COLUMNS
                )
            return len(table_rows)

        ceiling = _common.best_rate(bare, 1)
    _common.emit(
        "sink",
        {"sink_rows_per_s": _common.figure(rate, "rows/s", ceiling=ceiling, goal=100_000)},
        events=total,
    )


if __name__ == "__main__":
    main()
