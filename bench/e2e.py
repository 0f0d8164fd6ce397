"""End to end: AuditProducer -> Kafka -> processor -> sealed entry -> ClickHouse.

    python bench/e2e.py [--quick] [--rate R] [--seconds S]

e2e_latency_{p50,p99}_ms  from the producer call (the event time it stamps) until the
                          sealed entry is readable (read_committed) on the sealed topic,
                          at a steady R events/s, well below the processor's capacity;
                          the percentiles p90/p999/max are extra keys
e2e_events_per_s          a burst of R*S events: first produce call until the last row
                          is in (embedded) ClickHouse through the sink
    ceiling               the classify + seal core alone on the same events
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import threading
import time
from pathlib import Path

import _common
import _services
from confluent_kafka import Consumer

from auditstream.config import Topics
from auditstream.core.body import decode_body
from auditstream.core.validate import RawRecord
from auditstream.producers import AuditProducer, ProducerConfig
from auditstream.proto.v1 import sealed_pb2 as sealed
from auditstream.resources import schemas_dir
from auditstream.sinks import migrations
from auditstream.sinks.clickhouse import ClickHouseSink, SinkConfig
from auditstream.sinks.client import connect
from auditstream.workload import Workload, generate
from tests.engine_kit import sealer
from tests.infra import unique
from tests.pipeline import Worker, create_pipeline

PARTITIONS = 2
TENANTS = 4


class SealedWatcher:
    """Reads the sealed topic as it fills; keeps (arrival - event time) per entry."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.latencies_ms: list[float] = []
        self.stop = threading.Event()
        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": unique("e2e-watch"),
                "auto.offset.reset": "earliest",
                "isolation.level": "read_committed",
                "fetch.wait.max.ms": 10,
            }
        )
        self.consumer.subscribe([topic])
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            for message in self.consumer.consume(500, timeout=0.05):
                if message.error() is not None:
                    continue
                arrived = time.time_ns()
                entry = sealed.SealedEntry.FromString(message.value() or b"")
                event_ns = decode_body(entry.body).entry.event_time.ToNanoseconds()
                self.latencies_ms.append((arrived - event_ns) / 1e6)
        self.consumer.close()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(30)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def core_rate(count: int) -> float:
    now_ms = time.time_ns() // 1_000_000
    values = [
        e.SerializeToString() for e in generate(random.Random(5), count, Workload(tenants=TENANTS))
    ]
    records = [RawRecord("raw", 0, i, now_ms, None, v, ()) for i, v in enumerate(values)]

    def run() -> int:
        engine = sealer(checkpoint_every=1000)
        for start in range(0, len(records), 1000):
            engine.process(records[start : start + 1000], time.time_ns())
        return len(records)

    return _common.best_rate(run, 2)


def produce(producer: AuditProducer, count: int, rate: float | None, seed: int) -> None:
    """`count` workload events through the producer, paced at `rate` per second."""
    shape = Workload(tenants=TENANTS)
    started = time.monotonic()
    for n, entry in enumerate(generate(random.Random(seed), count, shape)):
        entry.ClearField("event_time")  # the producer stamps it now
        entry.ClearField("event_id")
        producer.log(
            entry.event_type,
            entry.actor_id,
            chain_id=f"{entry.tenant_id}/e2e",
            tenant_id=entry.tenant_id,
            resource=entry.resource,
            outcome=entry.outcome,
            message=entry.message,
        )
        if rate:
            ahead = started + (n + 1) / rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
    producer.flush(300)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 s at 500 events/s")
    parser.add_argument("--rate", type=float, default=1000.0, help="steady events per second")
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    rate, seconds = (500.0, 5.0) if args.quick else (args.rate, args.seconds)
    steady = int(rate * seconds)
    with _services.kafka_bootstrap() as bootstrap, tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        names, keys = create_pipeline(bootstrap, PARTITIONS, home)
        env = names.env()
        topics = Topics(
            raw=env["AUDITSTREAM_TOPIC_RAW"],
            sealed=env["AUDITSTREAM_TOPIC_SEALED"],
            checkpoints=env["AUDITSTREAM_TOPIC_CHECKPOINTS"],
            deadletter=env["AUDITSTREAM_TOPIC_DEADLETTER"],
            state=env["AUDITSTREAM_TOPIC_STATE"],
            partitions=PARTITIONS,
        )
        client = connect(f"chdb://{home}/clickhouse")
        migrations.migrate(client, schemas_dir() / "clickhouse", migrations.Target("e2e"))
        sink = ClickHouseSink(client, SinkConfig(bootstrap, topics, "e2e", group_id=unique("e2e")))
        stop = threading.Event()
        sink_thread = threading.Thread(target=sink.run, args=(stop,), daemon=True)
        worker = Worker(bootstrap, keys, names, home, "e2e", unique("e2e"), checkpoint_every=1000)
        producer = AuditProducer(
            ProducerConfig(bootstrap=bootstrap, topic=topics.raw, spool_dir=home / "spool")
        )
        watcher = SealedWatcher(bootstrap, topics.sealed)
        try:
            worker.wait_ready()
            sink_thread.start()
            produce(producer, steady, rate, seed=1)
            deadline = time.monotonic() + 600
            while len(watcher.latencies_ms) < steady and time.monotonic() < deadline:
                time.sleep(0.1)
            latencies = list(watcher.latencies_ms[:steady])
            watcher.close()
            while sink.rows_inserted < steady and time.monotonic() < deadline:
                time.sleep(0.1)

            burst_started = time.monotonic()
            produce(producer, steady, None, seed=2)
            while sink.rows_inserted < 2 * steady and time.monotonic() < deadline:
                time.sleep(0.05)
            burst_rate = steady / (time.monotonic() - burst_started)
            if sink.rows_inserted < 2 * steady:
                raise SystemExit(f"only {sink.rows_inserted} of {2 * steady} rows arrived")
        finally:
            producer.close()
            stop.set()
            sink_thread.join(60)
            worker.stop()
    ceiling = core_rate(steady)
    _common.emit(
        "e2e",
        {
            "e2e_latency_p50_ms": _common.figure(
                statistics.median(latencies),
                "ms",
                ceiling=None,
                goal=None,
                higher_is_better=False,
            ),
            "e2e_latency_p99_ms": _common.figure(
                percentile(latencies, 0.99), "ms", ceiling=None, goal=None, higher_is_better=False
            ),
            "e2e_events_per_s": _common.figure(burst_rate, "events/s", ceiling=ceiling, goal=None),
        },
        events=2 * steady,
        steady_rate=rate,
        e2e_latency_p90_ms=round(percentile(latencies, 0.90), 3),
        e2e_latency_p999_ms=round(percentile(latencies, 0.999), 3),
        e2e_latency_max_ms=round(max(latencies), 3),
    )


if __name__ == "__main__":
    main()
