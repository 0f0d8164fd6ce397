"""Stream processor throughput: raw records in, sealed entries out, on real Kafka.

    python bench/processor.py [--quick] [--events N]

processor_events_per_s     one `auditstream worker` (exactly once) sealing a backlog of
                           N raw records over 10 chains and 4 partitions
ceiling                    the pure classify + seal core on the same records, no Kafka
processor_events_per_s_10k_chains  the same with the events spread evenly over 10,000
                           chains; its ceiling is the 10-chain figure of the same run
state_records_per_event    records the worker wrote to the state topic (chain snapshots)
                           per event sealed, in the 10,000-chain run
checkpoint_signatures_per_s  checkpoints signed per second in the 10,000-chain run
recovery_seconds_10k_chains  the slowest partition restore of a worker taking over the
                           10,000-chain pipeline (its log says how long each took)
takeover_after_kill_s      from a kill -9 of the worker holding every partition of the
                           10-chain pipeline to its replacement (same --instance-id,
                           started at once, as a supervisor does) sealing 1,000 new
                           records: about a session timeout (10 s) plus the restores
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

from auditstream.proto.v1 import log_entry_pb2 as pb
from auditstream.samples.workload import Workload, generate
from tests.support.infra import unique
from tests.support.pipeline import Keys, Topics, Worker, create_pipeline, produce, read_topic

PARTITIONS = 4
CHAINS = 10
WIDE_CHAINS = 10_000
RECOVERED = re.compile(r"partition \d+ recovered in ([\d.]+) s")


def _spread(entry: pb.LogEntry, n: int) -> pb.LogEntry:
    """Event n: a copy of `entry` with its own event id, on chain n mod WIDE_CHAINS."""
    moved = pb.LogEntry()
    moved.CopyFrom(entry)
    moved.tenant_id = f"tenant-{n % WIDE_CHAINS:05d}"
    moved.event_id = f"{n:09d}-{entry.event_id}"
    return moved


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


def seal_backlog(
    bootstrap: str, home: Path, entries: list[pb.LogEntry], values: list[bytes]
) -> tuple[float, Topics, Keys, str]:
    """Events/s of one worker sealing `values` as a backlog; the pipeline it used."""
    topics, keys = create_pipeline(bootstrap, PARTITIONS, home)
    produce(
        bootstrap,
        topics.raw,
        [(e.tenant_id.encode(), v, []) for e, v in zip(entries, values, strict=True)],
    )
    app_id = unique("bench")
    worker = Worker(bootstrap, keys, topics, home, "bench", app_id, checkpoint_every=1000)
    try:
        worker.wait_ready()
        first = done = 0.0
        before = 0.0  # sealed when first seen: the rate counts only what came after
        deadline = time.monotonic() + 1800
        while time.monotonic() < deadline:
            sealed = sealed_total(worker.metrics_port)
            if sealed and not first:
                first, before = time.monotonic(), sealed
            if sealed >= len(values):
                done = time.monotonic()
                break
            time.sleep(0.2)
    finally:
        worker.stop()
    if not done:
        raise SystemExit("the worker did not seal the backlog in time")
    return (len(values) - before) / (done - first), topics, keys, app_id


def restores(worker: Worker) -> list[float]:
    """The seconds each partition restore of `worker` took, as its log says."""
    return [float(s) for s in RECOVERED.findall(worker.log.read_text(errors="replace"))]


def recovery_seconds(bootstrap: str, home: Path, topics: Topics, keys: Keys, app_id: str) -> float:
    """The slowest partition restore of a new worker of the same group."""
    worker = Worker(bootstrap, keys, topics, home, "recover", app_id)
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            took = restores(worker)
            if len(took) >= PARTITIONS:
                return max(took)
            time.sleep(0.5)
    finally:
        worker.stop()
    raise SystemExit("the second worker did not restore every partition in time")


def takeover_seconds(bootstrap: str, home: Path, topics: Topics, keys: Keys, app_id: str) -> float:
    """Seconds from a kill -9 of a worker that holds every partition to the moment its
    replacement has sealed 1,000 records produced right after the kill."""

    def start(name: str) -> Worker:
        return Worker(
            bootstrap, keys, topics, home, name, app_id, checkpoint_every=1000, instance_id="slot"
        )

    doomed = start("slot-0")
    try:
        deadline = time.monotonic() + 600
        while len(restores(doomed)) < PARTITIONS:
            if time.monotonic() > deadline:
                raise SystemExit("the first worker did not restore every partition in time")
            time.sleep(0.2)
        doomed.kill()
        killed = time.monotonic()
        replacement = start("slot-1")
        now = time.time_ns()
        fresh = list(generate(random.Random(12), 1000, Workload(tenants=CHAINS)))
        for entry in fresh:
            entry.event_time.FromNanoseconds(now)
        produce(
            bootstrap,
            topics.raw,
            [(e.tenant_id.encode(), e.SerializeToString(), []) for e in fresh],
        )
        try:
            while sealed_total(replacement.metrics_port) < len(fresh):
                if time.monotonic() > killed + 600:
                    raise SystemExit("the replacement did not seal the new records in time")
                time.sleep(0.1)
            return time.monotonic() - killed
        finally:
            replacement.stop()
    finally:
        doomed.stop()


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
        rate, topics, keys, ten_app = seal_backlog(bootstrap, home / "ten", entries, values)
        takeover = takeover_seconds(bootstrap, home / "ten", topics, keys, ten_app)
        # Long enough for the 10,000 chains to be flushed at least once (every 250,000
        # entries by default): the state records per event of a steady load.
        wide_count = count if args.quick else max(count, 300_000)
        spread = [_spread(entries[n % count], n) for n in range(wide_count)]
        wide_values = [e.SerializeToString() for e in spread]
        wide, wide_topics, wide_keys, app_id = seal_backlog(
            bootstrap, home / "wide", spread, wide_values
        )
        state_records = len(read_topic(bootstrap, wide_topics.settings().state, 1, quiet=3))
        signatures = len(read_topic(bootstrap, wide_topics.settings().checkpoints, 1, quiet=3))
        recovery = recovery_seconds(bootstrap, home / "wide", wide_topics, wide_keys, app_id)
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
            "processor_events_per_s_10k_chains": _common.figure(
                wide, "events/s", ceiling=rate, goal=0.8 * rate
            ),
            "state_records_per_event": _common.figure(
                state_records / count,
                "records/event",
                ceiling=None,
                goal=0.05,
                higher_is_better=False,
            ),
            "checkpoint_signatures_per_s": _common.figure(
                signatures * wide / wide_count, "signatures/s", ceiling=None, goal=None
            ),
            "recovery_seconds_10k_chains": _common.figure(
                recovery, "s", ceiling=None, goal=10, higher_is_better=False
            ),
            "takeover_after_kill_s": _common.figure(
                takeover, "s", ceiling=None, goal=None, higher_is_better=False
            ),
        },
        events=count,
        partitions=PARTITIONS,
        chains=CHAINS,
        wide_chains=WIDE_CHAINS,
        wide_events=wide_count,
    )


if __name__ == "__main__":
    main()
