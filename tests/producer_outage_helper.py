"""Subprocess for the broker-outage test: a service logging events at a steady rate.

    python producer_outage_helper.py BOOTSTRAP TOPIC SPOOL COUNT RATE RESULT

Prints STARTED, logs COUNT events over 8 chains at RATE per second, flushes, and writes
RESULT (JSON): the event ids per chain in logging order, the slowest call, what the
calls raised, and the producer's stats.
"""

from __future__ import annotations

import json
import sys
import time
from collections import defaultdict
from pathlib import Path

from auditstream.producers import AuditProducer, ProducerConfig


def main() -> None:
    bootstrap, topic, spool, count, rate, result = sys.argv[1:7]
    producer = AuditProducer(
        ProducerConfig(
            bootstrap=bootstrap, topic=topic, spool_dir=Path(spool), tenant_id="acme", linger_ms=20
        )
    )
    producer.start()
    print("STARTED", flush=True)
    ids: dict[str, list[str]] = defaultdict(list)
    slowest, raised = 0.0, []
    started = time.monotonic()
    for n in range(int(count)):
        chain = f"acme/shard{n % 8}"
        begin = time.perf_counter()
        try:
            event_id = producer.login(f"user-{n % 31}", chain_id=chain, resource="auth/login")
        except Exception as exc:  # the producer must never raise
            raised.append(repr(exc))
            continue
        slowest = max(slowest, time.perf_counter() - begin)
        ids[chain].append(event_id)
        if n % 500 == 499:
            time.sleep(max(0.0, (n + 1) / float(rate) - (time.monotonic() - started)))
    flushed = producer.flush(300)
    stats = producer.stats()
    producer.close()
    Path(result).write_text(
        json.dumps(
            {"ids": ids, "slowest_s": slowest, "raised": raised, "flushed": flushed, "stats": stats}
        )
    )


if __name__ == "__main__":
    main()
