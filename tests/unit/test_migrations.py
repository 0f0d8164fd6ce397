"""Migration files render to the SQL a single server or a cluster needs."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditstream.clickhouse import migrations
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
