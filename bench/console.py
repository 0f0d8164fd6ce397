"""The auditor's console over HTTP on a large store (embedded ClickHouse).

    python bench/console.py [--quick] [--events N] [--requests N]

Loads N (default 10,000,000) sealed events — sealed with the project's own code over
10 tenants, 100 chains and 90 days, a signed checkpoint every 2,000 entries per chain —
then serves the web application (uvicorn, plain HTTP on loopback) and signs in with a
token scoped to the busiest tenant. Measured over HTTP, one request at a time:

    console_search_p95_ms  the search page: newest events, by actor, by event types in
                           the last 30 days, by resource, and the next page by cursor
    console_event_p95_ms   the event page of random events: decoded body, verdict
                           (body, chain link, inclusion in the signed checkpoint)

Ceilings, measured in the same run: the same work called in-process without HTTP or
HTML (`AuditStore.query`; `sealed_entries` + `EntryChecker.check`). The first event
page of each chain builds that chain's tile cache; those requests are reported apart
(`console_event_cold_ms`, the median) and not in the p95, which is over warm chains.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import random
import re
import statistics
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

import _common
import _sealed

from auditstream.clickhouse import migrations, schema
from auditstream.clickhouse.client import connect
from auditstream.core.retention import parse_policy
from auditstream.query.api import Grant, SearchBody, token_digest
from auditstream.query.store import AuditStore
from auditstream.settings.resources import default_policy_file, schemas_dir
from auditstream.verification.entry import EntryChecker, Status
from auditstream.web import app, server

TENANT = "tenant-000"
TOKEN = "bench-console-token"  # a loopback-only server that lives as long as the bench


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1] if len(values) > 1 else values[0]


def load(client: Any, total: int) -> tuple[int, float]:
    migrations.migrate(client, schemas_dir() / "clickhouse", migrations.Target(database="bench"))
    started = time.perf_counter()
    checkpoints: list[list[Any]] = []
    loaded = 0
    for chunk in _sealed.sealed_rows(total, checkpoints=checkpoints):
        for i in range(0, len(chunk), 100_000):
            client.insert("bench.audit_events", chunk[i : i + 100_000], column_names=schema.COLUMNS)
        loaded += len(chunk)
    client.insert("bench.audit_checkpoints", checkpoints, column_names=schema.CHECKPOINT_COLUMNS)
    client.command("OPTIMIZE TABLE bench.audit_events FINAL")
    return loaded, time.perf_counter() - started


class Http:
    """One keep-alive connection, signed in to the console."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        body = urllib.parse.urlencode({"token": TOKEN, "next": "/search"})
        self.conn.request(
            "POST", "/signin", body, {"Content-Type": "application/x-www-form-urlencoded"}
        )
        response = self.conn.getresponse()
        response.read()
        found = re.search(
            r"(__Host-auditstream-session=[^;]+)", response.getheader("set-cookie") or ""
        )
        assert response.status == 303 and found, response.status
        self.cookie = found.group(1)

    def get(self, path: str) -> tuple[float, int, bytes]:
        start = time.perf_counter()
        self.conn.request("GET", path, headers={"Cookie": self.cookie})
        response = self.conn.getresponse()
        data = response.read()
        return (time.perf_counter() - start) * 1000, response.status, data


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200k events, fewer requests")
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--requests", type=int, default=200, help="of each page kind")
    args = parser.parse_args()
    total = 200_000 if args.quick else args.events
    requests = 40 if args.quick else args.requests
    rng = random.Random(7)
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="as-bench-console-") as tmp:
        client = connect(f"chdb://{tmp}/store")
        loaded, load_s = load(client, total)
        lock = threading.Lock()
        settings = app.Settings(
            client=client,
            database="bench",
            grants=[Grant("bench", token_digest(TOKEN), frozenset({TENANT}))],
            verifiers=[_sealed.SIGNER.verifier],
            policy=parse_policy(default_policy_file().read_text(encoding="utf-8")),
            lock=lock,
        )
        store = AuditStore(client, "bench", tenants={TENANT}, lock=lock)
        top = client.query(
            "SELECT topK(20)(actor_id), topK(20)(resource) FROM bench.audit_events "
            "WHERE tenant_id = {t:String}",
            parameters={"t": TENANT},
        ).result_rows[0]
        first = store.query(SearchBody(limit=100).to_query())
        searches = [
            lambda: "/search?limit=100",
            lambda: "/search?" + urllib.parse.urlencode({"actor": rng.choice(top[0])}),
            lambda: "/search?event_types=EVENT_LOGIN&event_types=EVENT_LOGOUT&preset=30d",
            lambda: "/search?" + urllib.parse.urlencode({"resource": rng.choice(top[1])}),
            lambda: "/search?" + urllib.parse.urlencode({"cursor": first.next_cursor}),
        ]
        sample = client.query(
            "SELECT event_id, chain_id FROM bench.audit_events WHERE tenant_id = {t:String} "
            "ORDER BY cityHash64(event_id) LIMIT {n:UInt32}",
            parameters={"t": TENANT, "n": requests + 20},
        ).result_rows
        running = server.start(app.create_app(settings), server.Listen("127.0.0.1", 0))
        try:
            web = Http(running.port)
            search_ms = []
            for i in range(requests):
                ms, status, _ = web.get(searches[i % len(searches)]())
                assert status == 200, status
                search_ms.append(ms)
            cold_ms, event_ms, verified = [], [], 0
            warm: set[str] = set()
            for event_id, chain_id in sample:
                ms, status, body = web.get("/event?" + urllib.parse.urlencode({"id": event_id}))
                assert status == 200, (status, body[:300])
                verified += b"\xe2\x9c\x94 Verified" in body
                (event_ms if chain_id in warm else cold_ms).append(ms)
                warm.add(chain_id)
            # Ceilings: the same work in-process, no HTTP, no HTML.
            checker = EntryChecker(settings.verifiers)
            for event_id, _ in sample[:10]:  # warm the ceiling's own tile cache
                checker.check(store, store.sealed_entries(event_id)[0], settings.now())
            search_floor = [
                timed(lambda: store.query(SearchBody(limit=100).to_query())),
                *(
                    timed(lambda: store.query(SearchBody(actor=rng.choice(top[0])).to_query()))
                    for _ in range(requests // 5)
                ),
                *(
                    timed(
                        lambda: store.query(
                            SearchBody(
                                event_types=["EVENT_LOGIN", "EVENT_LOGOUT"],
                                start=settings.now() - dt.timedelta(days=30),
                            ).to_query()
                        )
                    )
                    for _ in range(requests // 5)
                ),
            ]
            statuses: list[Status] = []
            event_floor = []
            for event_id, _ in sample:
                start = time.perf_counter()
                row = store.sealed_entries(event_id)[0]
                statuses.append(checker.check(store, row, settings.now()).status)
                event_floor.append((time.perf_counter() - start) * 1000)
        finally:
            running.stop()
    figures = {
        "console_search_p95_ms": _common.figure(
            p95(search_ms), "ms", ceiling=p95(search_floor), goal=300, higher_is_better=False
        ),
        "console_event_p95_ms": _common.figure(
            p95(event_ms), "ms", ceiling=p95(event_floor), goal=200, higher_is_better=False
        ),
        "console_event_cold_ms": _common.figure(
            statistics.median(cold_ms), "ms", ceiling=None, goal=None, higher_is_better=False
        ),
    }
    _common.emit(
        "console",
        figures,
        events=loaded,
        load_seconds=round(load_s, 1),
        total_seconds=round(time.perf_counter() - began, 1),
        search_requests=len(search_ms),
        event_requests=len(event_ms),
        cold_event_requests=len(cold_ms),
        event_pages_verified=verified,
        ceiling_verified=sum(s is Status.VERIFIED for s in statuses),
        tenant=TENANT,
    )


if __name__ == "__main__":
    main()
