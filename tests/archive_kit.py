"""Sealed entries for archive tests, from the real engine, published to Kafka."""

from __future__ import annotations

import random
import time

from confluent_kafka import Producer

from auditstream.core.validate import RawRecord
from auditstream.processors.engine import Outputs
from auditstream.workload import Workload, generate
from tests.engine_kit import sealer


def sealed_outputs(count: int, seed: int = 3, chains: int = 4) -> Outputs:
    """`count` events over `chains` tenants, sealed with checkpoints every 200."""
    engine = sealer(checkpoint_every=200)
    now_ms = time.time_ns() // 1_000_000
    entries = list(generate(random.Random(seed), count, Workload(tenants=chains)))
    for n, entry in enumerate(entries):  # recent events, so retention runs from about now
        entry.event_time.FromMilliseconds(now_ms - count + n)
        if n % 7 == 0:
            entry.policy_tags.append("HIPAA")  # a second retention class
    records = [
        RawRecord("raw", 0, i, now_ms, e.tenant_id.encode(), e.SerializeToString(), ())
        for i, e in enumerate(entries)
    ]
    return engine.process(records, time.time_ns())


def publish(bootstrap: str, prefix: str, outputs: Outputs) -> None:
    producer = Producer(
        {"bootstrap.servers": bootstrap, "partitioner": "murmur2_random", "linger.ms": 10}
    )
    for chain_id, value in outputs.sealed:
        producer.produce(f"{prefix}.sealed", key=chain_id.encode(), value=value)
    for chain_id, value in outputs.checkpoints:
        producer.produce(f"{prefix}.checkpoints", key=chain_id.encode(), value=value)
    assert producer.flush(120) == 0
