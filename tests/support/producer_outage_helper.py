"""Subprocess for the broker-outage test: a service logging events at a steady rate.

    python producer_outage_helper.py BOOTSTRAP TOPIC SPOOL COUNT RATE RESULT

Prints STARTED, logs COUNT events over 8 chains at RATE per second, flushes, and writes
RESULT (JSON): the event ids per chain in logging order, the slowest call, what the
calls raised, the producer's stats, and for a failure's message every call over 10 ms
(when, how long, how much of it waiting for a CPU) and every full garbage collection.
"""

from __future__ import annotations

import gc
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

from auditstream.producers import AuditProducer, ProducerConfig
from auditstream.settings.connection import KafkaConnection

SCHEDSTAT = Path("/proc/thread-self/schedstat")


def runqueue_wait_ns() -> int:
    """Time this thread has spent ready to run but without a CPU (0 if not known)."""
    try:
        return int(SCHEDSTAT.read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def watch_full_collections(started: float, pauses: list[tuple[float, float]]) -> None:
    began = [0.0]

    def callback(phase: str, info: dict[str, int]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            began[0] = time.perf_counter()
        else:
            pauses.append((round(time.monotonic() - started, 3), time.perf_counter() - began[0]))

    gc.callbacks.append(callback)


def main() -> None:
    bootstrap, topic, spool, count, rate, result = sys.argv[1:7]
    producer = AuditProducer(
        ProducerConfig(
            kafka=KafkaConnection(bootstrap),
            topic=topic,
            spool_dir=Path(spool),
            tenant_id="acme",
            linger_ms=20,
        )
    )
    producer.start()
    print("STARTED", flush=True)
    ids: dict[str, list[str]] = defaultdict(list)
    slowest, raised = 0.0, []
    started = time.monotonic()
    slow: list[tuple[float, float, float]] = []  # (since start, took, waiting for a CPU)
    collections: list[tuple[float, float]] = []
    watch_full_collections(started, collections)
    for n in range(int(count)):
        chain = f"acme/shard{n % 8}"
        waited = runqueue_wait_ns()
        begin = time.perf_counter()
        try:
            event_id = producer.login(f"user-{n % 31}", chain_id=chain, resource="auth/login")
        except Exception as exc:  # the producer must never raise
            raised.append(repr(exc))
            continue
        took = time.perf_counter() - begin
        slowest = max(slowest, took)
        if took > 0.010:
            waited = runqueue_wait_ns() - waited
            slow.append((round(time.monotonic() - started, 3), took, waited / 1e9))
        ids[chain].append(event_id)
        if n % 500 == 499:
            time.sleep(max(0.0, (n + 1) / float(rate) - (time.monotonic() - started)))
    flushed = producer.flush(300)
    stats = producer.stats()
    producer.close()
    Path(result).write_text(
        json.dumps(
            {
                "ids": ids,
                "slowest_s": slowest,
                "raised": raised,
                "flushed": flushed,
                "stats": stats,
                "slow_calls": slow,
                "full_collections": collections,
            }
        )
    )


if __name__ == "__main__":
    main()
