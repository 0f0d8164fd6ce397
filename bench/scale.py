"""Worker scale-out on a three-node Kafka cluster: 1, 2 and 4 worker processes.

    python bench/scale.py [--quick] [--events N]

Each step has its own pipeline (16 partitions, 32 chains, replication factor 3,
min.insync.replicas 2) and app id. A backlog of N raw records is produced in one open
Kafka transaction; the step's workers start, join the group and share the partitions;
then the transaction commits and the whole backlog becomes visible at once. The clock
runs from the commit to the last sealed event. After every step the sealed topic is
checked: every event exactly once, every chain contiguous from 0, MACs and signed
checkpoints valid (the bench fails otherwise).

scale_events_per_s_K   events/s of K workers together; its ceiling is K times the
                       one-worker figure of the same run, so ratio_to_ceiling is the
                       scaling efficiency (1.0: linear)
per_worker_events_per_s_K  the same divided by K
cpu_busy_share_K       the share of the machine's CPU time busy (every process: workers,
                       brokers, this script) while K workers sealed: near 1.0, the
                       machine, not the design, is what stops the scaling
rebalance_pause_ms     a second worker joins one that seals a steady stream (2,000
                       events/s): the longest time no sealed event came out, from its
                       start until 5 s after the two share the partitions
steady_longest_pause_ms  the same watch over the one worker alone, 8 s before that

The machine has few cores: the workers share them with three brokers and the producer,
so compare the ratios, not the absolute rates (issue 21, docs/capacity.md).
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from pathlib import Path

import _common
import _services
from confluent_kafka import Producer
from processor import sealed_total

from auditstream.samples.workload import Workload, generate
from tests.support.infra import unique
from tests.support.pipeline import (
    Feed,
    Keys,
    Topics,
    Worker,
    check_sealed,
    create_pipeline,
)

PARTITIONS = 16
CHAINS = 32
STEPS = (1, 2, 4)
FEED_RATE = 2_000
FEED_SECONDS = 60  # longer than the windows watched while it runs


Record = tuple[bytes, bytes, list[tuple[str, bytes]]]


def backlog(count: int, seed: int) -> tuple[list[Record], list[str]]:
    """`count` raw records over CHAINS chains, and their event ids."""
    entries = list(generate(random.Random(seed), count, Workload(tenants=CHAINS)))
    now = time.time_ns()
    records: list[Record] = []
    for entry in entries:
        entry.event_time.FromNanoseconds(now)
        records.append((entry.tenant_id.encode(), entry.SerializeToString(), []))
    return records, [e.event_id for e in entries]


def sealed(workers: list[Worker]) -> float:
    return sum(sealed_total(w.metrics_port) for w in workers)


def wait_sealed(workers: list[Worker], count: int, timeout: float = 1800) -> tuple[float, float]:
    """(first, done): monotonic times of the first sealed event and of the `count`th."""
    first = 0.0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        total = sealed(workers)
        if total and not first:
            first = time.monotonic()
        if total >= count:
            return first, time.monotonic()
        time.sleep(0.05)
    raise SystemExit(f"{len(workers)} workers did not seal {count} events in time")


def start_workers(
    bootstrap: str, keys: Keys, topics: Topics, home: Path, app_id: str, names: list[str]
) -> list[Worker]:
    workers = [
        Worker(bootstrap, keys, topics, home, name, app_id, checkpoint_every=1000) for name in names
    ]
    for worker in workers:
        worker.wait_ready(timeout=300)
    return workers


def verify(bootstrap: str, topics: Topics, keys: Keys, event_ids: list[str]) -> None:
    result = check_sealed(bootstrap, topics, keys, len(event_ids))
    problems = result.problems(event_ids)
    if problems or result.sealed != len(event_ids):
        raise SystemExit(f"exactly-once failed: {result.sealed} sealed: {problems}")


def shared(workers: list[Worker]) -> bool:
    """Every worker holds partitions, and together they hold each partition once."""
    held = [w.health().get("partitions") or [] for w in workers]
    owned = [p for ps in held if isinstance(ps, list) for p in ps]
    return all(held) and sorted(owned) == list(range(PARTITIONS))


def settled(workers: list[Worker], timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not shared(workers):
        if time.monotonic() > deadline:
            raise SystemExit(f"{len(workers)} workers did not share the partitions in time")
        time.sleep(0.2)


def cpu_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all cores since boot, from /proc/stat."""
    fields = [float(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def scale_step(bootstrap: str, home: Path, workers_wanted: int, count: int) -> tuple[float, float]:
    """Events/s of `workers_wanted` workers sealing a backlog of `count` records, and
    the share of the machine's CPU time that was busy meanwhile (all processes).

    The backlog is produced in one Kafka transaction that is committed only once the
    workers have joined and shared the partitions: they read committed records only, so
    all of it appears at once, and the clock starts at the commit."""
    topics, keys = create_pipeline(bootstrap, PARTITIONS, home)
    records, event_ids = backlog(count, seed=workers_wanted)
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "transactional.id": unique("scale-backlog"),
            "transaction.timeout.ms": 600_000,
            "linger.ms": 20,
            "batch.size": 1024 * 1024,
            "queue.buffering.max.messages": 2_000_000,
            "partitioner": "murmur2_random",
        }
    )
    producer.init_transactions(60)
    producer.begin_transaction()
    for key, value, _ in records:
        producer.produce(topics.raw, value, key)
        producer.poll(0)
    producer.flush(300)
    names = [f"w{n}" for n in range(workers_wanted)]
    workers = start_workers(bootstrap, keys, topics, home, unique("scale"), names)
    try:
        settled(workers)
        producer.commit_transaction(60)
        committed, busy_before = time.monotonic(), cpu_busy()
        _, done = wait_sealed(workers, count)
        busy_after = cpu_busy()
    finally:
        for worker in workers:
            worker.stop()
    verify(bootstrap, topics, keys, event_ids)
    busy = (busy_after[0] - busy_before[0]) / (busy_after[1] - busy_before[1])
    return count / (done - committed), busy


def longest_stall(
    workers: list[Worker], seconds: float, until: list[Worker] | None = None
) -> float:
    """The longest time (s) in which the sealed total did not grow, watched for
    `seconds`, and (with `until`) at least until those workers share the partitions."""
    last_total, last_growth, longest = sealed(workers), time.monotonic(), 0.0
    end = time.monotonic() + seconds
    while time.monotonic() < end or (until and not shared(until)):
        total = sealed(workers)
        now = time.monotonic()
        if total > last_total:
            longest = max(longest, now - last_growth)
            last_total, last_growth = total, now
        time.sleep(0.02)
    return max(longest, time.monotonic() - last_growth)


def rebalance_pause(bootstrap: str, home: Path) -> tuple[float, float]:
    """(stall while a second worker joins, stall of one worker alone), in seconds."""
    topics, keys = create_pipeline(bootstrap, PARTITIONS, home)
    app_id = unique("rebalance")
    workers = start_workers(bootstrap, keys, topics, home, app_id, ["a"])
    feed = Feed(bootstrap, topics.raw, FEED_RATE * FEED_SECONDS, CHAINS, FEED_RATE).start()
    try:
        workers[0].wait_batches(5, what="transactions", timeout=300)
        alone = longest_stall(workers, 8)
        workers.append(Worker(bootstrap, keys, topics, home, "b", app_id, checkpoint_every=1000))
        pause = longest_stall(workers, 5, until=workers)
        feed.join()
        wait_sealed(workers, feed.count)
    finally:
        for worker in workers:
            worker.stop()
    verify(bootstrap, topics, keys, feed.event_ids)
    return pause, alone


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20k events per step")
    parser.add_argument("--events", type=int, default=80_000)
    args = parser.parse_args()
    count = 20_000 if args.quick else args.events
    rates: dict[int, float] = {}
    busy: dict[int, float] = {}
    with _services.cluster_bootstrap() as bootstrap, tempfile.TemporaryDirectory() as tmp:
        for k in STEPS:
            rates[k], busy[k] = scale_step(bootstrap, Path(tmp) / f"step-{k}", k, count)
        pause, alone = rebalance_pause(bootstrap, Path(tmp) / "rebalance")
    figures = {}
    for k in STEPS:
        ceiling = None if k == 1 else k * rates[1]
        figures[f"scale_events_per_s_{k}"] = _common.figure(
            rates[k], "events/s", ceiling=ceiling, goal=None
        )
        figures[f"per_worker_events_per_s_{k}"] = _common.figure(
            rates[k] / k, "events/s", ceiling=None if k == 1 else rates[1], goal=None
        )
        figures[f"cpu_busy_share_{k}"] = _common.figure(
            busy[k], "share of all cores", ceiling=None, goal=None, higher_is_better=False
        )
    figures["rebalance_pause_ms"] = _common.figure(
        pause * 1000, "ms", ceiling=None, goal=None, higher_is_better=False
    )
    figures["steady_longest_pause_ms"] = _common.figure(
        alone * 1000, "ms", ceiling=None, goal=None, higher_is_better=False
    )
    _common.emit(
        "scale",
        figures,
        events_per_step=count,
        partitions=PARTITIONS,
        chains=CHAINS,
        brokers=3,
        cpus=os.cpu_count(),
    )


if __name__ == "__main__":
    main()
