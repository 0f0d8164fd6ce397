"""ClickHouse sink throughput: sealed entries from Kafka into embedded ClickHouse.

    python bench/sink.py [--quick] [--events N]

sink_rows_per_s         ClickHouseSink consuming a backlog of N sealed entries until all
                        are inserted (default batches: 50,000 rows, 64 MiB or 1 s)
ceiling                 clickhouse-connect's bare insert of the same rows, prebuilt in
                        Python as columns (its fastest form), batches of 50,000
sink_insert_rows_per_s  the sink's insert path alone (framing and the ingest insert of the
                        same entries, no Kafka), against the same ceiling
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import _common
import _sealed
import _services
from confluent_kafka import Message, Producer

from auditstream.clickhouse import ingest, migrations, schema
from auditstream.clickhouse.client import connect
from auditstream.proto.v1 import sealed_pb2 as sealed
from auditstream.settings.config import Topics
from auditstream.settings.connection import KafkaConnection
from auditstream.settings.resources import schemas_dir
from auditstream.sinks.clickhouse import ClickHouseSink, SinkConfig
from tests.support.infra import unique
from tests.support.pipeline import create_pipeline

BATCH = 50_000


@dataclass
class TimedSink(ClickHouseSink):
    """The sink, timed from its first record (not from joining the consumer group)."""

    first_record: float = 0.0

    def take(self, message: Message) -> None:
        if not self.first_record:
            self.first_record = time.perf_counter()
        super().take(message)


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
        for name in ("viasink", "bare", "ingest"):
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
        sink = TimedSink(
            client,
            SinkConfig(KafkaConnection(bootstrap), settings, "viasink", group_id=unique("bench")),
        )
        stop = threading.Event()
        thread = threading.Thread(target=sink.run, args=(stop,), daemon=True)
        thread.start()
        while sink.rows_inserted < total:
            time.sleep(0.01)
        rate = total / (time.perf_counter() - sink.first_record)
        stop.set()
        thread.join(60)

        columns = [list(c) for c in zip(*table_rows, strict=True)]

        def bare() -> int:
            for i in range(0, len(table_rows), BATCH):
                client.insert(
                    "bare.audit_events",
                    [c[i : i + BATCH] for c in columns],
                    column_names=schema.COLUMNS,
                    column_oriented=True,
                )
            return len(table_rows)

        def insert_path() -> int:
            for i in range(0, len(entries), BATCH):
                frames = ingest.Frames()
                for value in entries[i : i + BATCH]:
                    frames.add(value, sealed.SealedEntry.FromString(value).body)
                ingest.insert(client, "ingest", frames.data)
            return len(entries)

        ceiling = _common.best_rate(bare, 1)
        insert_rate = _common.best_rate(insert_path, 1)
        stored = client.query("SELECT count() FROM viasink.audit_events").result_rows[0][0]
        assert stored == total, stored
        client.close()  # stops chdb's background merges before its folder is removed
    _common.emit(
        "sink",
        {
            "sink_rows_per_s": _common.figure(rate, "rows/s", ceiling=ceiling, goal=100_000),
            "sink_insert_rows_per_s": _common.figure(
                insert_rate, "rows/s", ceiling=ceiling, goal=None
            ),
        },
        events=total,
    )


if __name__ == "__main__":
    main()
