"""Recompute docs/capacity.md from the measured figures in bench/results.json.

    python scripts/capacity.py [--results bench/results.json] [--out docs/capacity.md]
                               [--policy auditstream/schemas/policy.toml] [--check]

--check writes nothing and fails when the page differs from what the results give
(run by the unit tests, so that the page and the results never drift apart).

Every number in the page comes from a bench figure named beside it, or from an
assumption stated in the page's "Assumptions" section (ASSUMPTIONS below). A figure
the results lack stops the script with its name: nothing is filled in silently.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from auditstream.core.retention import parse_policy  # noqa: E402 - after sys.path
from auditstream.processors.topics import DAY_MS, pipeline_topics  # noqa: E402
from auditstream.settings.config import Topics  # noqa: E402

RATES = (1_000, 10_000, 100_000, 1_000_000)
SECONDS_PER_YEAR = 365 * 86_400
# Stated in the page; change them here and re-run.
HEADROOM = 0.5  # plan every process for half its measured rate: peaks, failover, GC
REPLICATION = 3  # copies of every Kafka partition (min.insync.replicas 2)
MIN_BROKERS = 3
PARTITIONS_PER_WORKER = 2  # room to add workers later without repartitioning
MIN_PARTITIONS = 4


@dataclass(frozen=True)
class Figures:
    results: dict[str, dict[str, Any]]

    @classmethod
    def load(cls, path: Path) -> Figures:
        """The results file's entries by bench; a clear error when it is missing or is
        not the list of bench entries that scripts/run_bench.py writes."""
        try:
            entries = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise SystemExit(f"{path}: cannot be read ({exc.strerror}); run make bench") from None
        except ValueError as exc:
            raise SystemExit(f"{path} is not JSON: {exc}") from None
        if not isinstance(entries, list) or not all(
            isinstance(e, dict) and isinstance(e.get("bench"), str) for e in entries
        ):
            raise SystemExit(f"{path} is not a list of bench entries, each with its 'bench'")
        return cls({e["bench"]: e for e in entries})

    def value(self, bench: str, name: str) -> float:
        try:
            return float(self.results[bench]["figures"][name]["value"])
        except (KeyError, TypeError, ValueError):
            raise SystemExit(f"bench/results.json has no figure {bench}.{name}") from None

    def extra(self, bench: str, name: str) -> float:
        try:
            return float(self.results[bench][name])
        except (KeyError, TypeError, ValueError):
            raise SystemExit(f"bench/results.json has no {bench}.{name}") from None

    def date(self, bench: str) -> str:
        return str(self.results.get(bench, {}).get("date", "?"))[:10]


@dataclass(frozen=True)
class Unit:
    """What one process (or server) of a kind was measured to do, in events/s."""

    kind: str
    rate: float
    source: str


# (kind, bench, figure): what one process or server of a kind does, in events/s.
UNITS = (
    ("producers", "producer", "producer_events_per_s"),
    ("workers", "processor", "processor_events_per_s"),
    ("ClickHouse sinks", "sink", "sink_rows_per_s"),
    ("archive sinks", "archive", "archive_events_per_s"),
    ("ClickHouse shards", "sink", "sink_insert_rows_per_s"),
    ("Kafka brokers", "processor", "transactional_loop_events_per_s"),
)


def units(f: Figures) -> list[Unit]:
    out = []
    for kind, bench, name in UNITS:
        rate = f.value(bench, name)
        if kind == "Kafka brokers":  # every event is written as REPLICATION copies
            rate = rate / REPLICATION
        out.append(Unit(kind, rate, f"{bench}.{name}"))
    return out


def scaling(f: Figures) -> list[str]:
    """The worker scale-out efficiency lines, when bench/scale.py has run."""
    if "scale" not in f.results:
        return ["- Worker scale-out: `bench/scale.py` has not run; workers are assumed linear."]
    one = f.value("scale", "scale_events_per_s_1")
    lines = ["- Worker scale-out measured by `bench/scale.py` on the 3-node cluster:"]
    for k in (2, 4):
        rate = f.value("scale", f"scale_events_per_s_{k}")
        lines.append(f"  {k} workers {rate:,.0f} events/s, efficiency {rate / (k * one):.2f};")
    pause = f.value("scale", "rebalance_pause_ms")
    lines.append(f"  a joining worker paused sealing for {pause:,.0f} ms (`rebalance_pause_ms`).")
    return lines


def needed(rate: float, unit: Unit) -> int:
    return max(1, math.ceil(rate / (unit.rate * HEADROOM)))


def partitions(workers: int) -> int:
    return max(MIN_PARTITIONS, 2 ** math.ceil(math.log2(workers * PARTITIONS_PER_WORKER)))


def human_bytes(n: float) -> str:
    for suffix in ("B", "KB", "MB", "GB", "TB", "PB"):
        if n < 1000:
            return f"{n:.3g} {suffix}"
        n /= 1000
    return f"{n:.3g} EB"


def render(f: Figures, policy_text: str) -> str:
    policy = parse_policy(policy_text)
    measured = units(f)
    by_kind = {u.kind: u for u in measured}
    clickhouse_bytes = f.value("queries", "storage_bytes_per_event")
    archive_bytes = f.value("archive", "archive_bytes_per_event")
    raw_bytes = f.extra("core", "avg_body_bytes")
    retention = {s.name: s.config.get("retention.ms") for s in pipeline_topics(Topics())}
    raw_days = int(retention[Topics().raw] or 0) / DAY_MS
    sealed_days = int(retention[Topics().sealed] or 0) / DAY_MS
    out = [
        "# Capacity model",
        "",
        "How many partitions, workers, brokers, sink processes and ClickHouse shards a",
        "given rate needs, and how much storage it fills, computed by",
        "`python scripts/capacity.py` from the figures in `bench/results.json`",
        "(`make bench`). **Do not edit this page by hand: re-run the script.** The figures",
        "come from a small machine (see each bench's `machine`), so the counts are upper",
        "bounds for bigger hosts; re-run the benches on your own hardware and then the",
        "script.",
        "",
        "## Measured per-unit figures",
        "",
        "| unit | events/s measured | bench figure | run |",
        "|---|--:|---|---|",
    ]
    for unit in measured:
        bench = unit.source.split(".", 1)[0]
        row = f"| one of the {unit.kind} | {unit.rate:,.0f} | `{unit.source}` | {f.date(bench)} |"
        out.append(row)
    out += [
        "",
        "| per event | bytes | bench figure |",
        "|---|--:|---|",
        f"| raw `LogEntry` on Kafka | {raw_bytes:,.0f} | `core.avg_body_bytes` |",
        f"| ClickHouse, compressed on disk | {clickhouse_bytes:,.0f} "
        "| `queries.storage_bytes_per_event` |",
        f"| S3 archive (segments, tiles, checkpoints) | {archive_bytes:,.0f} "
        "| `archive.archive_bytes_per_event` |",
        "",
        "## Counts for a sustained rate",
        "",
        "Each count is the rate over half (`HEADROOM`) of one unit's measured rate,",
        "rounded up. Partitions: the next power of two at or above two per worker, at",
        f"least {MIN_PARTITIONS} (the count is fixed at deployment — operations.md, Scaling).",
        "",
    ]
    kinds = [u.kind for u in measured]
    out.append("| events/s | partitions | " + " | ".join(kinds) + " |")
    out.append("|--:|--:|" + "--:|" * len(kinds))
    for rate in RATES:
        counts = {kind: needed(rate, by_kind[kind]) for kind in kinds}
        counts["Kafka brokers"] = max(MIN_BROKERS, counts["Kafka brokers"])
        cells = " | ".join(f"{counts[k]:,}" for k in kinds)
        out.append(f"| {rate:,} | {partitions(counts['workers']):,} | {cells} |")
    out += [
        "",
        "## Storage",
        "",
        "Kafka holds each topic for its retention (`auditstream.processors.topics`:",
        f"raw {raw_days:g} d, sealed {sealed_days:g} d), {REPLICATION} copies; a sealed entry",
        "is taken to be as large as its archived form. ClickHouse and the archive: one",
        "year of events.",
        "",
        "| events/s | Kafka disk (steady) | ClickHouse per year | S3 archive per year |",
        "|--:|--:|--:|--:|",
    ]
    for rate in RATES:
        day = rate * 86_400
        kafka_disk = day * (raw_bytes * raw_days + archive_bytes * sealed_days) * REPLICATION
        out.append(
            f"| {rate:,} | {human_bytes(kafka_disk)} | "
            f"{human_bytes(rate * SECONDS_PER_YEAR * clickhouse_bytes)} | "
            f"{human_bytes(rate * SECONDS_PER_YEAR * archive_bytes)} |"
        )
    classes = sorted(policy.classes.values(), key=lambda c: c.days)
    out += [
        "",
        "## Stored volume by retention class (steady state)",
        "",
        "What the archive holds once a class has been filled for its whole retention, if",
        "**all** events fell in that class; multiply by your share of events in each",
        "class (the default policy, `auditstream/schemas/policy.toml`, puts most in",
        f"`{policy.default_class}`). ClickHouse holds the same span unless its TTL is",
        "shorter (content is blanked at expiry; the skeleton stays).",
        "",
        "| events/s | " + " | ".join(f"`{c.name}` ({c.days} d)" for c in classes) + " |",
        "|--:|" + "--:|" * len(classes),
    ]
    for rate in RATES:
        cells = " | ".join(human_bytes(rate * 86_400 * c.days * archive_bytes) for c in classes)
        out.append(f"| {rate:,} | {cells} |")
    out += [
        "",
        "## Assumptions",
        "",
        f"- Headroom {HEADROOM:.0%}: no process is planned above half its measured rate.",
        f"- Kafka: replication {REPLICATION}, `min.insync.replicas` 2, "
        f"at least {MIN_BROKERS} brokers.",
        "  A broker's share is the bare transactional loop of `bench/processor.py` (one",
        f"  read and one write per event on a single broker) over the {REPLICATION} copies",
        "  every event is written as; it is not a measured cluster figure.",
        "- Workers: one process per core pair; the figure is one worker alone on the bench",
        "  machine, and workers are counted as if they scaled linearly on separate hosts.",
        *scaling(f),
        "  On one 2-core machine beside three brokers that ratio is a lower bound.",
        "- ClickHouse shards: one server's bare insert rate (embedded chdb on the bench",
        "  machine) bounds its share; query latency was measured on one server at",
        f"  {f.extra('queries', 'events'):,.0f} events (`bench/queries.py`); beyond that per",
        "  shard, add shards (the Distributed tables shard by chain).",
        "- Storage: the bench workload's event mix and sizes; your events may be larger.",
        "",
    ]
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=REPO / "bench" / "results.json")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "capacity.md")
    parser.add_argument(
        "--policy", type=Path, default=REPO / "auditstream" / "schemas" / "policy.toml"
    )
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    args = parser.parse_args()
    page = render(Figures.load(args.results), args.policy.read_text())
    if args.check:
        current = args.out.read_text() if args.out.exists() else ""
        if current != page:
            raise SystemExit(f"{args.out} is stale: run python scripts/capacity.py")
        return
    args.out.write_text(page)
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
