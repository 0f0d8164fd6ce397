"""Producer library throughput and call latency into a local Kafka (acks=all).

    python bench/producer.py [--quick] [--events N]

producer_events_per_s  AuditProducer.login() calls until Kafka acknowledged them all
producer_call_p99_us   99th percentile of one logging call
ceilings               confluent-kafka's bare produce() of the same bytes, same settings:
                       its throughput to full acknowledgement and its call p99
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import _common
import _services
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from auditstream.producers import AuditProducer, ProducerConfig
from auditstream.producers.events import build_entry
from auditstream.settings.connection import KafkaConnection
from tests.support.infra import unique


def p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[int(len(ordered) * 0.99)] * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20k events")
    parser.add_argument("--events", type=int, default=200_000)
    args = parser.parse_args()
    count = 20_000 if args.quick else args.events
    with _services.kafka_bootstrap() as bootstrap, tempfile.TemporaryDirectory() as tmp:
        admin = AdminClient({"bootstrap.servers": bootstrap})
        topics = [unique("bench-producer"), unique("bench-bare")]
        for future in admin.create_topics([NewTopic(t, 4, 1) for t in topics]).values():
            future.result(30)
        producer = AuditProducer(
            ProducerConfig(
                kafka=KafkaConnection(bootstrap),
                topic=topics[0],
                spool_dir=Path(tmp) / "spool",
                tenant_id="bench",
            )
        )
        producer.start()
        calls: list[float] = []
        started = time.perf_counter()
        for n in range(count):
            begin = time.perf_counter()
            producer.login(
                f"user-{n % 97}", resource="auth/login", message="User authenticated via SSO"
            )
            calls.append(time.perf_counter() - begin)
        assert producer.flush(600), producer.stats()
        ours = count / (time.perf_counter() - started)
        producer.close()

        # The same bytes through confluent-kafka alone: no spool, no validation.
        value = build_entry(
            1, actor_id="user-1", resource="auth/login", message="User authenticated via SSO"
        ).SerializeToString()
        bare = _common.bare_producer(bootstrap)
        bare_calls: list[float] = []
        started = time.perf_counter()
        for _ in range(count):
            begin = time.perf_counter()
            while True:
                try:
                    bare.produce(topics[1], key=b"bench", value=value)
                    break
                except BufferError:
                    bare.poll(0.05)
            bare_calls.append(time.perf_counter() - begin)
            bare.poll(0)
        bare.flush(600)
        ceiling = count / (time.perf_counter() - started)
    _common.emit(
        "producer",
        {
            "producer_events_per_s": _common.figure(
                ours, "events/s", ceiling=ceiling, goal=100_000
            ),
            "producer_call_p99_us": _common.figure(
                p99(calls), "us", ceiling=p99(bare_calls), goal=50, higher_is_better=False
            ),
        },
        events=count,
        producer_call_p50_us=round(sorted(calls)[len(calls) // 2] * 1e6, 1),
    )


if __name__ == "__main__":
    main()
