"""End to end: AuditProducer -> Kafka -> processor -> ClickHouse sink -> a query sees it.

    python bench/e2e.py [--quick] [--rate R] [--seconds S]

e2e_latency_{p50,p99}_ms  from the producer call until a query on (embedded) ClickHouse
                          returns the event, at a steady R events/s (default 5,000, the
                          issue's rate) for S seconds; the query polls every 50 ms, so
                          figures carry up to 50 ms of polling delay. Extra keys: p90,
                          max, and the same percentiles at 1,000 events/s
e2e_events_per_s          the steady run's events over the time from the first call
                          until the last event was visible
    ceiling               the classify + seal core alone on the same events
e2e_max_rate_p99_2s       the highest offered rate of a ladder (1,000 events/s and up, each
                          step held for S seconds, stopping at the first that misses) whose
                          p99 produce-to-queryable latency stays within 2 s
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import _common
import _services

from auditstream.clickhouse import migrations
from auditstream.clickhouse.client import connect
from auditstream.producers import AuditProducer, ProducerConfig
from auditstream.samples.workload import Workload, generate
from auditstream.settings.connection import KafkaConnection
from auditstream.settings.resources import schemas_dir
from auditstream.sinks.clickhouse import ClickHouseSink, SinkConfig
from tests.support.infra import unique
from tests.support.pipeline import Worker, create_pipeline

PARTITIONS = 2
TENANTS = 4
LADDER = (1000.0, 2500.0, 5000.0, 10_000.0, 20_000.0, 40_000.0)
WITHIN_MS = 2000.0


class Visibility:
    """Polls ClickHouse for rows past each chain's last seen seq; records when each
    event id first shows up, against when the producer call for it returned."""

    def __init__(self, client: Any, table: str, chains: list[str]) -> None:
        self.client, self.table = client, table
        self.seen: dict[str, int] = dict.fromkeys(chains, -1)
        self.sent: dict[str, float] = {}
        self.latencies_ms: list[float] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.wait(0.05):
            self.poll()

    def poll(self) -> None:
        where = " OR ".join(
            f"(chain_id = '{chain}' AND seq > {seq})" for chain, seq in self.seen.items()
        )
        rows = self.client.query(
            f"SELECT chain_id, seq, event_id FROM {self.table} WHERE {where}"
        ).result_rows
        now = time.monotonic()
        for chain, seq, event_id in rows:
            self.seen[chain] = max(self.seen[chain], seq)
            sent = self.sent.pop(event_id, None)
            if sent is not None:
                self.latencies_ms.append((now - sent) * 1000)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(30)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def produce(
    producer: AuditProducer, visibility: Visibility, count: int, rate: float, seed: int
) -> None:
    """`count` workload events through the producer, paced at `rate` per second."""
    shape = Workload(tenants=TENANTS)
    started = time.monotonic()
    for n, entry in enumerate(generate(random.Random(seed), count, shape)):
        event_id = producer.log(
            entry.event_type,
            entry.actor_id,
            chain_id=chain_of(entry.tenant_id),
            tenant_id=entry.tenant_id,
            resource=entry.resource,
            outcome=entry.outcome,
            message=entry.message,
        )
        visibility.sent[event_id] = time.monotonic()
        ahead = started + (n + 1) / rate - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)


def chain_of(tenant: str) -> str:
    return f"{tenant}/e2e"


def steady(
    producer: AuditProducer, visibility: Visibility, rate: float, seconds: float, seed: int
) -> tuple[list[float], float]:
    """Latencies of one steady run, and its events per second until all were visible."""
    count = int(rate * seconds)
    before = len(visibility.latencies_ms)
    started = time.monotonic()
    produce(producer, visibility, count, rate, seed)
    deadline = time.monotonic() + 900
    while len(visibility.latencies_ms) - before < count:
        if time.monotonic() > deadline:
            raise SystemExit(f"only {len(visibility.latencies_ms) - before} of {count} visible")
        time.sleep(0.05)
    return visibility.latencies_ms[before:], count / (time.monotonic() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 s at 1,000 and 2,000 events/s")
    parser.add_argument("--rate", type=float, default=5000.0, help="steady events per second")
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    rate, seconds = (2000.0, 4.0) if args.quick else (args.rate, args.seconds)
    with _services.kafka_bootstrap() as bootstrap, tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        names, keys = create_pipeline(bootstrap, PARTITIONS, home)
        topics = names.settings()
        client = connect(f"chdb://{home}/clickhouse")
        migrations.migrate(client, schemas_dir() / "clickhouse", migrations.Target("e2e"))
        sink = ClickHouseSink(
            client, SinkConfig(KafkaConnection(bootstrap), topics, "e2e", group_id=unique("e2e"))
        )
        stop = threading.Event()
        sink_thread = threading.Thread(target=sink.run, args=(stop,), daemon=True)
        worker = Worker(bootstrap, keys, names, home, "e2e", unique("e2e"), checkpoint_every=1000)
        producer = AuditProducer(
            ProducerConfig(
                kafka=KafkaConnection(bootstrap), topic=topics.raw, spool_dir=home / "spool"
            )
        )
        chains = [chain_of(Workload().tenant(i)) for i in range(TENANTS)]
        visibility = Visibility(client, "e2e.audit_events", chains)
        try:
            worker.wait_ready()
            sink_thread.start()
            easy, _ = steady(producer, visibility, 1000.0, seconds, seed=1)
            latencies, rate_seen = steady(producer, visibility, rate, seconds, seed=2)
            best = 0.0
            for step, offered in enumerate(LADDER[:2] if args.quick else LADDER):
                held, _ = steady(producer, visibility, offered, seconds, seed=10 + step)
                if percentile(held, 0.99) > WITHIN_MS:
                    break
                best = offered
        finally:
            visibility.close()
            producer.close()
            stop.set()
            sink_thread.join(60)
            worker.stop()
    events = generate(random.Random(5), int(rate * seconds), Workload(tenants=TENANTS))
    ceiling = _common.core_seal_rate([e.SerializeToString() for e in events], repeats=2)
    _common.emit(
        "e2e",
        {
            "e2e_latency_p50_ms": _common.figure(
                statistics.median(latencies), "ms", ceiling=None, goal=None, higher_is_better=False
            ),
            "e2e_latency_p99_ms": _common.figure(
                percentile(latencies, 0.99), "ms", ceiling=None, goal=2000, higher_is_better=False
            ),
            "e2e_events_per_s": _common.figure(rate_seen, "events/s", ceiling=ceiling, goal=None),
            "e2e_max_rate_p99_2s": _common.figure(best, "events/s", ceiling=ceiling, goal=5000),
        },
        events=len(latencies) + len(easy),
        rate=rate,
        seconds=seconds,
        e2e_latency_p90_ms=round(percentile(latencies, 0.90), 3),
        e2e_latency_max_ms=round(max(latencies), 3),
        e2e_latency_at_1000_p50_ms=round(statistics.median(easy), 3),
        e2e_latency_at_1000_p99_ms=round(percentile(easy, 0.99), 3),
    )


if __name__ == "__main__":
    main()
