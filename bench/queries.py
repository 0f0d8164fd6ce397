"""Named compliance queries over a large store (embedded ClickHouse).

    python bench/queries.py [--quick] [--events N]

Loads N (default 10,000,000) sealed events — sealed with the project's own code, over
10 tenants, 100 chains and 90 days — then runs every named query 5 times for the
busiest tenant. Figures: query_<name>_median_ms, query_<name>_max_ms,
storage_bytes_per_event (compressed bytes on disk / rows).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import _common
import _sealed

from auditstream.clickhouse import migrations, schema
from auditstream.clickhouse.client import connect
from auditstream.query import AuditStore
from auditstream.query.named import QUERIES
from auditstream.settings.resources import schemas_dir

TENANT = "tenant-000"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200k events")
    parser.add_argument("--events", type=int, default=10_000_000)
    args = parser.parse_args()
    total = 200_000 if args.quick else args.events
    with tempfile.TemporaryDirectory(prefix="as-bench-q-") as tmp:
        client = connect(f"chdb://{tmp}/store")
        migrations.migrate(
            client, schemas_dir() / "clickhouse", migrations.Target(database="bench")
        )
        started = time.perf_counter()
        loaded = 0
        for chunk in _sealed.sealed_rows(total):
            for i in range(0, len(chunk), 100_000):
                client.insert(
                    "bench.audit_events", chunk[i : i + 100_000], column_names=schema.COLUMNS
                )
            loaded += len(chunk)
        load_s = time.perf_counter() - started
        client.command("OPTIMIZE TABLE bench.audit_events FINAL")
        stored = client.query(
            "SELECT sum(bytes_on_disk), sum(rows) FROM system.parts "
            "WHERE database = 'bench' AND table = 'audit_events' AND active"
        ).result_rows[0]
        store = AuditStore(client, "bench", tenants={TENANT})
        top = client.query(
            "SELECT topK(1)(actor_id), topK(1)(resource) FROM bench.audit_events "
            "WHERE tenant_id = {t:String}",
            parameters={"t": TENANT},
        ).result_rows[0]
        params = {
            "actor_timeline": {"actor": top[0][0]},
            "resource_access": {"resource": top[1][0]},
        }
        figures = {}
        for name in QUERIES:
            timings = []
            for _ in range(5):
                begin = time.perf_counter()
                store.named(name, params.get(name, {}), tenant=TENANT)
                timings.append((time.perf_counter() - begin) * 1000)
            figures[f"query_{name}_median_ms"] = _common.figure(
                statistics.median(timings), "ms", ceiling=None, goal=100, higher_is_better=False
            )
            figures[f"query_{name}_max_ms"] = _common.figure(
                max(timings), "ms", ceiling=None, goal=300, higher_is_better=False
            )
        figures["storage_bytes_per_event"] = _common.figure(
            stored[0] / stored[1], "bytes", ceiling=None, goal=None, higher_is_better=False
        )
    _common.emit("queries", figures, events=loaded, load_seconds=round(load_s, 1), tenant=TENANT)


if __name__ == "__main__":
    main()
