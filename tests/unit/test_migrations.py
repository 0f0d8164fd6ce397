"""Migration files render to the SQL a single server or a cluster needs."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from auditstream.clickhouse import ingest, migrations, personal
from auditstream.clickhouse.client import connect
from auditstream.errors import ConfigError
from auditstream.settings.resources import schemas_dir

FOLDER = schemas_dir() / "clickhouse"


def all_sql(target: migrations.Target) -> str:
    return "\n".join(s for m in migrations.load(FOLDER) for s in migrations.render(m, target))


def test_single_server_sql() -> None:
    sql = all_sql(migrations.Target(database="audit"))
    assert "CREATE TABLE IF NOT EXISTS audit.audit_events\n" in sql
    assert "ENGINE = MergeTree" in sql and "Replicated" not in sql and "ON CLUSTER" not in sql
    assert "PARTITION BY toYYYYMM(event_time)" in sql
    assert "TYPE bloom_filter" in sql and "CODEC(ZSTD(3))" in sql
    assert "INTERVAL 3650 DAY DELETE" in sql and "{" not in sql


def test_cluster_sql_is_replicated_and_distributed() -> None:
    sql = all_sql(migrations.Target(database="audit", cluster="prod", skeleton_days=400))
    assert "CREATE TABLE IF NOT EXISTS audit.audit_events_local ON CLUSTER prod" in sql
    assert (
        "ReplicatedMergeTree('/clickhouse/tables/{shard}/audit/audit_events_local', '{replica}')"
        in sql
    )
    assert (
        "CREATE TABLE IF NOT EXISTS audit.audit_events ON CLUSTER prod AS audit.audit_events_local "
        "ENGINE = Distributed(prod, audit, audit_events_local, cityHash64(chain_id))"
    ) in sql
    assert "Distributed(prod, audit, audit_checkpoints_local" in sql
    assert "ALTER TABLE audit.audit_events_local ON CLUSTER prod" in sql
    assert "INTERVAL 400 DAY DELETE" in sql
    book = "\n".join(migrations.bookkeeping(migrations.Target(database="audit", cluster="prod")))
    assert "CREATE DATABASE IF NOT EXISTS audit ON CLUSTER prod" in book and "Replicated" in book


def test_migrations_are_numbered_and_names_are_checked(tmp_path: Path) -> None:
    assert [m.version for m in migrations.load(FOLDER)] == [1, 2, 3, 4, 5, 6]
    (tmp_path / "0001_a.sql").write_text("SELECT 1")
    (tmp_path / "0001_b.sql").write_text("SELECT 2")
    with pytest.raises(ConfigError, match="share a version"):
        migrations.load(tmp_path)
    with pytest.raises(ConfigError):
        migrations.Target(database="bad name")


def _ast(clickhouse: Any, statement: str, parameters: dict[str, str] | None = None) -> list[str]:
    """ClickHouse's own parse of `statement` (EXPLAIN AST runs the parser, nothing else)."""
    rows = clickhouse.query(f"EXPLAIN AST {statement}", parameters=parameters).result_rows
    return [str(row[0]) for row in rows]


def _created(tree: list[str]) -> tuple[str, str, list[str]]:
    """(table, engine, engine arguments) of a CREATE TABLE's syntax tree."""
    table = tree[0].split()[2]
    start = next(i for i, line in enumerate(tree) if line.strip().startswith("Storage definition"))
    engine = tree[start + 1].split()[1]
    depth = len(tree[start + 1]) - len(tree[start + 1].lstrip())
    arguments = []
    for line in tree[start + 2 :]:
        indent = len(line) - len(line.lstrip())
        if indent <= depth:
            break
        if indent == depth + 2 and line.split()[0] in ("Identifier", "Literal", "Function"):
            arguments.append(line.split()[1])
    return table, engine, arguments


def test_clickhouse_parses_the_cluster_schema_as_replicated_shards(clickhouse: Any) -> None:
    """Every statement `migrate --cluster` and the sink's setup run goes through ClickHouse's
    parser; each table of the single-server schema becomes a ReplicatedMergeTree on every
    shard (`<table>_local`) under a Distributed table of its own name, sharded by chain."""
    single, cluster = migrations.Target("audit"), migrations.Target("audit", "audit_cluster")

    def statements(target: migrations.Target) -> list[str]:
        rendered = [s for m in migrations.load(FOLDER) for s in migrations.render(m, target)]
        return [*migrations.bookkeeping(target), *rendered, *ingest.statements(target)]

    engines: dict[str, dict[str, tuple[str, list[str]]]] = {}
    for target in (single, cluster):
        engines[target.cluster] = {}
        for statement in statements(target):
            tree = _ast(clickhouse, statement)
            kind = tree[0].split()[0]
            assert kind in ("CreateQuery", "AlterQuery"), statement
            on_cluster = " ON CLUSTER audit_cluster" in statement.splitlines()[0]
            assert on_cluster == bool(target.cluster), statement
            if re.match(r"CREATE TABLE", statement):
                table, engine, arguments = _created(tree)
                engines[target.cluster][table] = (engine, arguments)

    plain = {t: e for t, (e, _) in engines[""].items()}
    assert plain.pop(ingest.TABLE) == "Null"
    assert set(plain.values()) == {"MergeTree"}
    spread = engines["audit_cluster"]
    assert spread.pop(ingest.TABLE)[0] == "Null"
    # one table on every server: what was applied is seen from any of them
    assert spread.pop("schema_migrations") == (
        "ReplicatedMergeTree",
        ["'/clickhouse/tables/all/audit/schema_migrations'", "'{shard}-{replica}'"],
    )
    del plain["schema_migrations"]
    for table in plain:
        engine, arguments = spread.pop(f"{table}_local")
        assert engine == "ReplicatedMergeTree"
        assert arguments == [f"'/clickhouse/tables/{{shard}}/audit/{table}_local'", "'{replica}'"]
        assert spread.pop(table) == (
            "Distributed",
            ["audit_cluster", "audit", f"{table}_local", "cityHash64"],
        )
    assert not spread, f"tables only on the cluster: {sorted(spread)}"
    assert len(plain) >= 4  # audit_events, audit_checkpoints, sink_rejects, audit_personal


@pytest.mark.parametrize("cluster", ["", "audit_cluster"])
def test_clickhouse_parses_the_erasure_mutation(clickhouse: Any, cluster: str) -> None:
    statement = personal.delete_statement("audit", cluster)
    tree = _ast(clickhouse, statement, {"tenant": "t", "digest": "d"})
    assert tree[0].split()[:2] == ["AlterQuery", "audit"]
    assert tree[0].split()[2] == (f"{personal.TABLE}_local" if cluster else personal.TABLE)
    assert any(line.strip().startswith("AlterCommand DELETE") for line in tree)
    assert (" ON CLUSTER audit_cluster " in statement) == bool(cluster)


def test_inserts_into_distributed_tables_wait_for_the_shards(infra: Any) -> None:
    """A sink reads its high-water marks back through the Distributed tables after a
    restart, so its inserts must not return while rows are still queued for a shard."""
    client = connect(infra.clickhouse_dsn())
    result = client.query(
        "SELECT value FROM system.settings WHERE name = 'distributed_foreground_insert'"
    )
    assert result.result_rows == [("1",)]
