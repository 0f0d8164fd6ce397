"""What the demo produces: the seed usage examples, an AI interaction, a data change, a
synthetic multi-tenant workload, and one record the processor must dead-letter."""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from confluent_kafka import Producer

from auditstream.cli.demo.progress import ProgressBar
from auditstream.errors import DemoError
from auditstream.producers import AuditProducer
from auditstream.runtime.logs import KAFKA_LOGGER
from auditstream.samples.examples import SEED_EXAMPLES, entry_fields
from auditstream.samples.workload import Workload, generate
from auditstream.settings.connection import KafkaConnection

SEEDS = len(SEED_EXAMPLES) + 2  # the examples, the AI interaction and the data change


def produce_seeds(producer: AuditProducer, say: Callable[[str], None]) -> None:
    say("producing the seed usage examples:")
    for example in SEED_EXAMPLES:
        fields = entry_fields(example)
        producer.log(fields.pop("event_type"), fields.pop("actor_id"), **fields)
        say(f"  {example['name']:22} {example['message']}")
    producer.ai_interaction(
        "Summarise ticket 4411 for the customer",
        "The refund was approved on 3 March.",
        provider="openai",
        model="gpt-4o",
        conversation_id="conv-4411",
        input_tokens=412,
        output_tokens=58,
        latency_ms=840.0,
        actor_id="support-agent-7",
    )
    producer.record_change(
        "update",
        "admin-42",
        "customer",
        "cust-9001",
        old_values={"plan": "basic"},
        new_values={"plan": "enterprise"},
    )
    say("  + an AI interaction (content as keyed digests) and a data change")


def produce_synthetic(
    producer: AuditProducer, total: int, tenants: int, chain_of: Callable[[str], str]
) -> None:
    """`total` events of the synthetic workload over the last hour, `tenants` tenants."""
    now = time.time_ns()
    shape = Workload(tenants=tenants, start_ns=now - 3_600_000_000_000, span_ns=3_600 * 10**9)
    progress = ProgressBar(f"synthetic workload, {tenants} tenants", total)
    rng = random.Random(7)  # noqa: S311 - sample data, not secrets
    for n, entry in enumerate(generate(rng, total, shape), 1):
        producer.emit(entry, chain_id=chain_of(entry.tenant_id))
        if n % 250 == 0 or n == total:
            progress.show(n)
    progress.done()


def synthetic_tenants(count: int) -> list[str]:
    return [Workload().tenant(i) for i in range(count)]


def produce_garbage(kafka: KafkaConnection, topic: str, say: Callable[[str], None]) -> None:
    """One record that is not a LogEntry: the processor must dead-letter it."""
    raw = Producer({**kafka.librdkafka(), "logger": KAFKA_LOGGER})
    raw.produce(topic, key=b"acme", value=b"\xff\xfe not a protobuf LogEntry")
    if raw.flush(30) != 0:
        raise DemoError("Kafka did not acknowledge the dead-letter example")
    say("  + one unparseable record (it must end up in the dead-letter topic)")
