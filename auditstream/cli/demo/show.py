"""What the demo prints: the seed examples as stored, named compliance queries, and the
verification report of both stores."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TextIO

from auditstream.archive.store import FileArchive, S3Archive
from auditstream.cli.demo.keys import DemoKeys
from auditstream.cli.render import print_report, render
from auditstream.clickhouse.client import ClickHouseClient
from auditstream.query.store import AuditQuery, AuditStore
from auditstream.settings import keyfiles
from auditstream.verification.archive import ArchiveSource
from auditstream.verification.clickhouse import ClickHouseSource
from auditstream.verification.run import Report, verify_sources

QUERIES = (
    ("guardrail_denials", "guardrail checks that blocked something"),
    ("agent_tool_calls", "AI tool calls per agent and tool"),
    ("model_usage", "model calls and tokens per provider and model"),
    ("restricted_exports", "exports of restricted or more sensitive data"),
    ("failed_logins", "failed logins per actor"),
)
EVENT_COLUMNS = ("event_time", "tenant_id", "actor_id", "outcome", "resource", "message")
SEED_COLUMNS = ("event_type", "actor_id", "outcome", "resource", "message")


def show_queries(
    store: AuditStore, tenant: str, seed_chain: str, say: Callable[[str], None]
) -> None:
    seeds = store.query(AuditQuery(tenant=tenant, limit=20)).rows
    shown = [
        {k: row.get(k) for k in SEED_COLUMNS} for row in seeds if row.get("chain_id") == seed_chain
    ]
    say(f"\n== tenant {tenant}: the seed examples as stored\n{render(shown, 'table')}")
    for name, title in QUERIES:
        rows = [_compact(row) for row in store.named(name, {"limit": 5})]
        say(f"\n== {name}: {title} (top 5, every tenant)\n{render(rows, 'table')}")


def _compact(row: dict[str, Any]) -> dict[str, Any]:
    """Event rows without the ids and chain positions, so a table fits a terminal."""
    if "event_id" not in row:
        return row
    return {name: row.get(name) for name in EVENT_COLUMNS}


def verify_stores(
    client: ClickHouseClient,
    database: str,
    archive: FileArchive | S3Archive,
    keys: DemoKeys,
    out: TextIO,
) -> Report:
    print("\n== verification (public key only; ClickHouse and archive, cross-checked)", file=out)
    report = verify_sources(
        [ClickHouseSource(client, database), ArchiveSource(archive)],
        note_verifiers=keyfiles.load_verifiers(keys.public),
        keyring=keyfiles.load_keyring(keys.hmac),
    )
    print_report(report, out)
    return report
