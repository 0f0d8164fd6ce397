"""Sealed entries for archive tests, from the real engine, published to Kafka."""

from __future__ import annotations

import random
import time

from confluent_kafka import Producer

from auditstream.core.validate import RawRecord
from auditstream.processors.engine import Outputs
from auditstream.proto.v1 import log_entry_pb2 as pb
from auditstream.samples.workload import Workload, generate
from tests.support.engine_kit import sealer

LONG_KEPT = (pb.EVENT_PRIVILEGE_USE, pb.EVENT_POLICY_CHANGE, pb.EVENT_USER_MANAGEMENT)


def sealed_outputs(
    count: int,
    seed: int = 3,
    chains: int = 4,
    *,
    age_days: float = 0,
    cover_tail: bool = True,
    hipaa_every: int = 7,
    only_standard: bool = False,
) -> Outputs:
    """`count` events over `chains` tenants, sealed with checkpoints every 200 (and,
    with `cover_tail`, a last one per chain covering every entry). `age_days` dates the
    events that long ago, so their retention runs out that much sooner. Every
    `hipaa_every`th event is tagged HIPAA, a second retention class (0: none);
    `only_standard` leaves out the events the policy keeps longer (critical ones), so
    each chain's segments are consecutive."""
    engine = sealer(checkpoint_every=200)
    now_ms = time.time_ns() // 1_000_000 - int(age_days * 86_400_000)
    entries = list(generate(random.Random(seed), count, Workload(tenants=chains)))
    if only_standard:
        entries = [
            e
            for e in entries
            if e.severity < pb.SEVERITY_CRITICAL and e.event_type not in LONG_KEPT
        ]
    for n, entry in enumerate(entries):  # recent events, so retention runs from about now
        entry.event_time.FromMilliseconds(now_ms - count + n)
        if hipaa_every and n % hipaa_every == 0:
            entry.policy_tags.append("HIPAA")  # a second retention class
    records = [
        RawRecord("raw", 0, i, now_ms - count + i, e.tenant_id.encode(), e.SerializeToString(), ())
        for i, e in enumerate(entries)
    ]
    out = Outputs()
    for start in range(0, len(records), 100):  # batches, as the worker sees them
        part = engine.process(records[start : start + 100], time.time_ns())
        out.sealed += part.sealed
        out.checkpoints += part.checkpoints
        out.dead_letters += part.dead_letters
    if cover_tail:
        out.checkpoints += engine.due(time.time_ns() + 3_600_000_000_000).checkpoints
    return out


def publish(bootstrap: str, prefix: str, outputs: Outputs) -> None:
    # Idempotent, so retries under load cannot reorder a chain's entries (the worker's
    # transactional producer never does; a reordering publisher would fake a gap).
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "partitioner": "murmur2_random",
            "linger.ms": 10,
            "enable.idempotence": True,
        }
    )
    records = [(f"{prefix}.sealed", chain_id, value) for chain_id, value in outputs.sealed]
    records += [(f"{prefix}.checkpoints", c, value) for c, value in outputs.checkpoints]
    for topic, chain_id, value in records:
        while True:
            try:
                producer.produce(topic, key=chain_id.encode(), value=value)
                break
            except BufferError:  # librdkafka's queue is full: let it drain
                producer.poll(0.1)
    assert producer.flush(120) == 0


def positions(outputs: Outputs) -> list[tuple[str, int]]:
    """(chain id, seq) of every sealed entry, in output order."""
    counters: dict[str, int] = {}
    found = []
    for chain_id, _ in outputs.sealed:
        counters[chain_id] = counters.get(chain_id, -1) + 1
        found.append((chain_id, counters[chain_id]))
    return found
