"""Shared plumbing for benchmarks: machine description and the one-line JSON result.

Every bench prints exactly one JSON object as its last stdout line (DESIGN.md §9):
    {"bench", "machine", "date", "figures": {name: {value, unit, ceiling, goal,
                                                    higher_is_better}}}
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cpu, {model}, Python {platform.python_version()}"


def figure(
    value: float,
    unit: str,
    *,
    ceiling: float | None,
    goal: float | None,
    higher_is_better: bool = True,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "value": round(value, 3),
        "unit": unit,
        "ceiling": None if ceiling is None else round(ceiling, 3),
        "goal": goal,
        "higher_is_better": higher_is_better,
    }
    if ceiling:
        out["ratio_to_ceiling"] = round(value / ceiling, 4)
    return out


def emit(name: str, figures: dict[str, dict[str, Any]], **extra: Any) -> None:
    result = {
        "bench": name,
        "machine": machine(),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "figures": figures,
        **extra,
    }
    print(json.dumps(result), flush=True)


def best_rate(fn: Callable[[], int], repeats: int) -> float:
    """Items per second of the fastest of `repeats` runs (fn returns the item count)."""
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        count = fn()
        elapsed = time.perf_counter() - start
        best = max(best, count / elapsed)
    return best


def core_seal_rate(values: list[bytes], repeats: int = 3) -> float:
    """Events/s of the pure classify + seal engine (no Kafka) on these raw LogEntry
    bytes: the ceiling of every stage that runs the processor."""
    from auditstream.core.validate import RawRecord  # noqa: PLC0415 - after sys.path
    from tests.support.engine_kit import sealer  # noqa: PLC0415

    now_ms = time.time_ns() // 1_000_000
    records = [RawRecord("raw", 0, i, now_ms, None, v, ()) for i, v in enumerate(values)]

    def run() -> int:
        engine = sealer(checkpoint_every=1000)
        for start in range(0, len(records), 1000):
            engine.process(records[start : start + 1000], time.time_ns())
        return len(records)

    return best_rate(run, repeats)


def bare_producer(bootstrap: str) -> Any:
    """confluent-kafka alone, set up as `AuditProducer`'s transport sets it up: the
    ceiling of any path that produces through the library."""
    from confluent_kafka import Producer  # noqa: PLC0415 - after sys.path

    return Producer(
        {
            "bootstrap.servers": bootstrap,
            "acks": "all",
            "enable.idempotence": True,
            "compression.type": "zstd",
            "linger.ms": 5,
            "partitioner": "murmur2_random",
        }
    )
