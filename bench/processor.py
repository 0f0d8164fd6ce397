"""Stream processor throughput: raw records in, sealed entries out, on real Kafka.

    python bench/processor.py [--quick] [--events N]

processor_events_per_s     one `auditstream worker` (exactly once) sealing a backlog of
                           N raw records over 10 chains and 4 partitions
ceiling                    the pure classify + seal core on the same records, no Kafka
faust_consume_events_per_s a Faust worker that consumes the same backlog and does nothing:
                           Faust's own ceiling on this machine
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
                ceiling, "events/s", ceiling=None, goal=None
            ),
        },
        events=count,
        partitions=PARTITIONS,
        chains=CHAINS,
    )


if __name__ == "__main__":
    main()
