"""Events produced, sealed by the real processor, stored by the ClickHouse sink, and read
back through every named query, against expectations computed from the input alone."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from typing import Any

import pytest

from auditstream.clickhouse import migrations
from auditstream.core.validate import RawRecord
from auditstream.producers.events import build_entry
from auditstream.proto.v1 import log_entry_pb2 as pb
from auditstream.query import AccessDeniedError, AuditQuery, AuditStore
from auditstream.samples.examples import SEED_EXAMPLES, entry_fields
from auditstream.samples.workload import Workload, generate
from auditstream.settings.connection import KafkaConnection
from auditstream.settings.resources import schemas_dir
from auditstream.sinks.clickhouse import ClickHouseSink, SinkConfig
from tests.support.engine_kit import sealer
from tests.support.infra import Infra, unique
from tests.support.pipeline import Worker, create_pipeline, produce
from tests.support.store_kit import load_clickhouse

pytestmark = pytest.mark.integration
TENANT = "tenant-000"
EVENTS = 3000


@pytest.fixture(scope="module")
def stored(
    infra: Infra, kafka_bootstrap: str, clickhouse: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, list[pb.LogEntry]]]:
    """Run producer input -> worker -> sink once; yield (database, input entries)."""
    home = tmp_path_factory.mktemp("ch")
    topics, keys = create_pipeline(kafka_bootstrap, 2, home)
    entries = list(
        generate(
            random.Random(99),
            EVENTS,
            Workload(tenants=3, actors_per_tenant=12, resources_per_tenant=8),
        )
    )
    produce(
        kafka_bootstrap,
        topics.raw,
        [(e.tenant_id.encode(), e.SerializeToString(), []) for e in entries],
    )
    database = unique("ch").replace("-", "_")
    migrations.migrate(
        clickhouse, schemas_dir() / "clickhouse", migrations.Target(database=database)
    )
    worker = Worker(kafka_bootstrap, keys, topics, home, "w", unique("proc"))
    sink = ClickHouseSink(
        clickhouse,
        SinkConfig(
            KafkaConnection(kafka_bootstrap),
            topics.settings(),
            database,
            group_id=unique("sink"),
            batch_rows=1000,
            batch_seconds=0.5,
        ),
    )
    stop = threading.Event()
    thread = threading.Thread(target=sink.run, args=(stop,), daemon=True)
    try:
        worker.wait_ready()
        thread.start()
        deadline = time.monotonic() + 300
        while sink.rows_inserted < EVENTS and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        stop.set()
        thread.join(60)
        worker.stop()
    assert sink.rows_inserted == EVENTS
    yield database, entries


def of(entries: list[pb.LogEntry], *types: int) -> list[pb.LogEntry]:
    return [e for e in entries if e.tenant_id == TENANT and (not types or e.event_type in types)]


def newest_first(entries: list[pb.LogEntry]) -> list[str]:
    return [
        e.event_id
        for e in sorted(entries, key=lambda e: e.event_time.ToNanoseconds(), reverse=True)
    ][:100]


def test_every_named_query_matches_the_input(
    stored: tuple[str, list[pb.LogEntry]], clickhouse: Any
) -> None:
    database, entries = stored
    store = AuditStore(clickhouse, database, tenants={TENANT})
    mine = of(entries)
    actor = Counter(e.actor_id for e in mine).most_common(1)[0][0]
    rows = store.named("actor_timeline", {"actor": actor}, tenant=TENANT)
    assert [r["event_id"] for r in rows] == newest_first([e for e in mine if e.actor_id == actor])

    failures = Counter(
        e.actor_id for e in of(entries, pb.EVENT_LOGIN) if e.outcome != pb.OUTCOME_SUCCESS
    )
    expected = sorted(failures.items(), key=lambda kv: (-kv[1], kv[0]))
    assert [(r["actor_id"], r["failures"]) for r in store.named("failed_logins")] == expected
    assert expected  # the workload has failures to find

    resource = Counter(e.resource for e in mine).most_common(1)[0][0]
    by_actor: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for e in mine:
        if e.resource == resource:
            by_actor[e.actor_id][0] += 1
            by_actor[e.actor_id][1] += e.outcome != pb.OUTCOME_SUCCESS
    got = [
        (r["actor_id"], r["accesses"], r["refused"])
        for r in store.named("resource_access", {"resource": resource})
    ]
    assert got == sorted(((a, c, f) for a, (c, f) in by_actor.items()), key=lambda t: (-t[1], t[0]))

    exports = [
        e for e in of(entries, pb.EVENT_DATA_EXPORT) if e.sensitivity >= pb.SENSITIVITY_RESTRICTED
    ]
    assert [r["event_id"] for r in store.named("restricted_exports")] == newest_first(exports)

    calls: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for e in of(entries, pb.EVENT_TOOL_INVOCATION):
        calls[(e.actor_id, e.mcp.tool_name)][0] += 1
        calls[(e.actor_id, e.mcp.tool_name)][1] += e.outcome != pb.OUTCOME_SUCCESS
    got_calls = [
        (r["agent"], r["tool"], r["calls"], r["failed"]) for r in store.named("agent_tool_calls")
    ]
    assert (
        got_calls
        == sorted(
            ((a, t, c, f) for (a, t), (c, f) in calls.items()), key=lambda x: (-x[2], x[0], x[1])
        )[:100]
    )

    usage: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for e in of(entries, pb.EVENT_MODEL_INFERENCE):
        u = usage[(e.ai.provider, e.ai.request_model)]
        u[0] += 1
        u[1] += e.ai.input_tokens
        u[2] += e.ai.output_tokens
    got_usage = [
        (r["provider"], r["model"], r["calls"], r["input_tokens"], r["output_tokens"])
        for r in store.named("model_usage")
    ]
    assert got_usage == sorted(
        ((p, m, *v) for (p, m), v in usage.items()), key=lambda x: (-x[2], x[0], x[1])
    )

    denied = [
        e
        for e in of(entries, pb.EVENT_GUARDRAIL_CHECK)
        if e.outcome in (pb.OUTCOME_FAILURE_DENIED, pb.OUTCOME_FAILURE_UNAUTHORIZED)
    ]
    assert [r["event_id"] for r in store.named("guardrail_denials")] == newest_first(denied)
    assert [r["event_id"] for r in store.named("privilege_use")] == newest_first(
        of(entries, pb.EVENT_PRIVILEGE_USE)
    )
    changes = of(entries, pb.EVENT_CONFIG_CHANGE, pb.EVENT_POLICY_CHANGE)
    assert [r["event_id"] for r in store.named("config_changes")] == newest_first(changes)


def test_search_with_filters_and_cursor_pages(
    stored: tuple[str, list[pb.LogEntry]], clickhouse: Any
) -> None:
    database, entries = stored
    store = AuditStore(clickhouse, database)
    wanted = {
        e.event_id
        for e in entries
        if e.tenant_id == TENANT
        and e.event_type in (pb.EVENT_LOGIN, pb.EVENT_RESOURCE_ACCESS)
        and e.severity >= pb.SEVERITY_WARNING
    }
    seen: list[str] = []
    cursor = None
    while True:
        page = store.query(
            AuditQuery(
                tenant=TENANT,
                event_types=["LOGIN", "RESOURCE_ACCESS"],
                min_severity="WARNING",
                limit=7,
                cursor=cursor,
            )
        )
        seen.extend(r["event_id"] for r in page.rows)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) and set(seen) == wanted and wanted
    one = next(e for e in entries if e.tenant_id == TENANT)
    got = store.get_entry(one.event_id, tenant=TENANT)
    assert got is not None and got["actor_id"] == one.actor_id and got["chain_id"] == TENANT
    text = store.query(AuditQuery(tenant=TENANT, text="CHAT COMPLETION", limit=10_000)).rows
    assert {r["event_id"] for r in text} == {
        e.event_id for e in of(entries, pb.EVENT_MODEL_INFERENCE)
    }


def test_tenant_scope_is_enforced_by_the_store(
    stored: tuple[str, list[pb.LogEntry]], clickhouse: Any
) -> None:
    database, entries = stored
    scoped = AuditStore(clickhouse, database, tenants={TENANT})
    with pytest.raises(AccessDeniedError):
        scoped.named("failed_logins", tenant="tenant-001")
    with pytest.raises(AccessDeniedError):
        scoped.sql("SELECT 1")
    everything = scoped.query(AuditQuery(limit=10_000)).rows
    assert {r["tenant_id"] for r in everything} == {TENANT}
    assert len(everything) == len(of(entries))
    operator = AuditStore(clickhouse, database)
    assert operator.sql(f"SELECT count() AS n FROM {database}.audit_events") == [{"n": EVENTS}]
    with pytest.raises(AccessDeniedError, match="read-only"):
        operator.sql(f"DROP TABLE {database}.audit_events")
    with pytest.raises(AccessDeniedError, match="OUTFILE"):
        operator.sql(f"SELECT * FROM {database}.audit_events INTO OUTFILE 'out.csv'")
    with pytest.raises(Exception, match=r"(?i)readonly"):  # the server's own guard
        operator.sql("SELECT * FROM system.one SETTINGS readonly = 0")
    # Refusals leave the connection writable (chdb keeps a failed write's settings).
    spare = f"{database}_spare"
    clickhouse.command(f"CREATE DATABASE {spare}")
    clickhouse.command(f"DROP DATABASE {spare}")


def test_stored_columns_equal_the_sealed_bodies(
    stored: tuple[str, list[pb.LogEntry]], clickhouse: Any
) -> None:
    """What the sink stored decodes back to the input events."""
    database, entries = stored
    from auditstream.core.body import decode_body  # noqa: PLC0415

    by_id = {e.event_id: e for e in entries}
    result = clickhouse.query(
        f"SELECT event_id, body, actor_id FROM {database}.audit_events",
        column_formats={"body": "bytes"},
    )
    for event_id, body, actor in result.result_rows:
        sealed = decode_body(body)
        assert sealed.entry.event_id == event_id and actor == by_id[event_id].actor_id


def test_model_usage_names_the_model_of_events_without_an_ai_block(
    clickhouse: Any, ch_database: str
) -> None:
    """A lokryn 0.1.1 inference event (the seed example) carries its model only in the
    resource and its tokens in the payload; the row says so instead of staying blank."""
    (seed,) = [e for e in SEED_EXAMPLES if e["event_type"] == "EVENT_MODEL_INFERENCE"]
    fields = entry_fields(seed)
    entry = build_entry(fields.pop("event_type"), tenant_id="acme", **fields)
    engine = sealer()
    record = RawRecord("raw", 0, 0, time.time_ns() // 10**6, b"acme", entry.SerializeToString())
    load_clickhouse(clickhouse, ch_database, engine.process([record], time.time_ns()))
    (row,) = AuditStore(clickhouse, ch_database).named("model_usage")
    assert (row["provider"], row["model"]) == ("(not recorded)", "gpt-4")
    assert (row["calls"], row["input_tokens"], row["output_tokens"]) == (1, 1250, 342)
