"""Stream processor throughput: raw records in, sealed entries out, on real Kafka.

    python bench/processor.py [--quick] [--events N]

processor_events_per_s     one `auditstream worker` (exactly once) sealing a backlog of
                           N raw records over 10 chains and 4 partitions
ceiling                    the pure classify + seal core on the same records, no Kafka
faust_consume_events_per_s a Faust stream of the worker's Faust app that consumes the same
                           backlog and does nothing: what Faust's stream machinery costs
transactional_loop_events_per_s  the worker's own kind of loop (librdkafka: consume a batch,
                           produce one record per input, send the offsets, commit the
                           transaction) on the same backlog, without the sealing work:
                           what the Kafka side of the worker costs
"""

from __future__ import annotations

import argparse
import random
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import _common
import _services

from auditstream.samples.workload import Workload, generate
from tests.support.infra import unique
from tests.support.pipeline import Worker, create_pipeline, produce

PARTITIONS = 4
CHAINS = 10


def sealed_total(port: int) -> float:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as resp:
            text = resp.read().decode()
    except OSError:
        return 0.0
    found = re.search(r"^auditstream_processor_sealed_total (\S+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


def transactional_loop_rate(bootstrap: str, topic: str, out_topic: str, count: int) -> float:
    """Events/s of a bare transactional consume -> produce -> commit loop."""
    from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: PLC0415

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": unique("bare"),
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
            "fetch.max.bytes": 32 * 1024 * 1024,
        }
    )
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "transactional.id": unique("bare-txn"),
            "linger.ms": 5,
            "batch.size": 1024 * 1024,
        }
    )
    producer.init_transactions(30)
    consumer.subscribe([topic])
    seen, first = 0, 0.0
    try:
        while seen < count:
            messages = consumer.consume(2000, 0.05)
            if not messages:
                continue
            if not first:
                first = time.monotonic()
            producer.begin_transaction()
            offsets: dict[int, int] = {}
            for message in messages:
                producer.produce(out_topic, message.value(), message.key(), message.partition())
                offsets[message.partition()] = message.offset() + 1
            positions = [TopicPartition(topic, p, o) for p, o in offsets.items()]
            producer.send_offsets_to_transaction(positions, consumer.consumer_group_metadata())
            producer.commit_transaction(30)
            seen += len(messages)
        return seen / (time.monotonic() - first)
    finally:
        consumer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20k events")
    parser.add_argument("--events", type=int, default=100_000)
    args = parser.parse_args()
    count = 20_000 if args.quick else args.events
    entries = list(generate(random.Random(11), count, Workload(tenants=CHAINS)))
    now = time.time_ns()
    for entry in entries:
        entry.event_time.FromNanoseconds(now)
    values = [e.SerializeToString() for e in entries]
    ceiling = _common.core_seal_rate(values)
    with _services.kafka_bootstrap() as bootstrap, tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        topics, keys = create_pipeline(bootstrap, PARTITIONS, home)
        produce(
            bootstrap,
            topics.raw,
            [(e.tenant_id.encode(), v, []) for e, v in zip(entries, values, strict=True)],
        )
        worker = Worker(
            bootstrap, keys, topics, home, "bench", unique("bench"), checkpoint_every=1000
        )
        try:
            worker.wait_ready()
            first = done = 0.0
            deadline = time.monotonic() + 1800
            while time.monotonic() < deadline:
                sealed = sealed_total(worker.metrics_port)
                if sealed and not first:
                    first = time.monotonic()
                if sealed >= count:
                    done = time.monotonic()
                    break
                time.sleep(0.2)
        finally:
            worker.stop()
        if not done:
            raise SystemExit("the worker did not seal the backlog in time")
        rate = count / (done - first)
        rate_file = home / "faust-rate"
        noop = [
            sys.executable, str(Path(__file__).with_name("_faust_noop.py")), bootstrap,
            topics.raw, str(count), unique("noop"), str(rate_file),
        ]  # fmt: skip
        subprocess.run(noop, capture_output=True, timeout=1800, check=True)
        faust_rate = float(rate_file.read_text())
        loop_rate = transactional_loop_rate(
            bootstrap, topics.raw, f"{topics.prefix}.deadletter", count
        )
    _common.emit(
        "processor",
        {
            "processor_events_per_s": _common.figure(
                rate, "events/s", ceiling=ceiling, goal=30_000
            ),
            "faust_consume_events_per_s": _common.figure(
                faust_rate, "events/s", ceiling=None, goal=None
            ),
            "core_classify_seal_events_per_s": _common.figure(
                ceiling, "events/s", ceiling=None, goal=60_000
            ),
            "transactional_loop_events_per_s": _common.figure(
                loop_rate, "events/s", ceiling=None, goal=None
            ),
        },
        events=count,
        partitions=PARTITIONS,
        chains=CHAINS,
    )


if __name__ == "__main__":
    main()
