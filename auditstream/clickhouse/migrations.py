"""Numbered ClickHouse migrations from `auditstream/schemas/clickhouse/`, applied once each.

Files are SQL templates named `NNNN_name.sql` with placeholders `{database}`,
`{on_cluster}`, `{local}`, `{engine}` and `{skeleton_days}`. On one server they render
as MergeTree tables. With `cluster=NAME` every table becomes a ReplicatedMergeTree
`<table>_local` created ON CLUSTER, and each table a file names in a
`-- distributed: <table>` line gets a Distributed table of that name, sharded by chain
so that a chain lives on one shard. Applied versions are recorded in
`schema_migrations` with a checksum of their file.

After the numbered files, `migrate` keeps the insert path of `audit_events` current:
its Null table and view are generated from the column mapping (`clickhouse.ingest`),
not written by hand, so they are not numbered migrations.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

from auditstream.clickhouse import ingest
from auditstream.clickhouse.client import ClickHouseClient
from auditstream.errors import ConfigError

log = logging.getLogger(__name__)
NAME_RE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
DISTRIBUTED_RE = re.compile(r"^--\s*distributed:\s*([a-z_]+)\s*$", re.M)
DEFAULT_SKELETON_DAYS = 3650  # the chain skeleton outlives content by ten years


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    template: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.template.encode()).hexdigest()

    @property
    def distributed(self) -> list[str]:
        return DISTRIBUTED_RE.findall(self.template)


@dataclass(frozen=True)
class Target:
    database: str = "auditstream"
    cluster: str = ""
    skeleton_days: int = DEFAULT_SKELETON_DAYS

    def __post_init__(self) -> None:
        for value, what in ((self.database, "database"), (self.cluster, "cluster")):
            if value and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
                raise ConfigError(f"invalid {what} name {value!r}")


def load(directory: str | os.PathLike[str]) -> list[Migration]:
    folder = Path(directory)
    if not folder.is_dir():
        raise ConfigError(f"migrations folder {folder} does not exist")
    migrations = []
    for path in sorted(folder.glob("*.sql")):
        found = NAME_RE.match(path.name)
        if not found:
            raise ConfigError(f"{path}: migration files are named NNNN_name.sql")
        migrations.append(Migration(int(found.group(1)), found.group(2), path.read_text()))
    if not migrations:
        raise ConfigError(f"migrations folder {folder} holds no NNNN_name.sql files")
    versions = [m.version for m in migrations]
    if len(set(versions)) != len(versions):
        raise ConfigError(f"{directory}: two migrations share a version number")
    return migrations


def _engine(target: Target, table: str) -> str:
    if not target.cluster:
        return "MergeTree"
    path = f"/clickhouse/tables/{{shard}}/{target.database}/{table}"
    return f"ReplicatedMergeTree('{path}', '{{replica}}')"


def _table_of(statement: str) -> str:
    """The table a templated statement creates or alters ("{database}.<table>{local}")."""
    found = re.search(r"\{database\}\.(\w+)", statement)
    return found.group(1) if found else "table"


def render(migration: Migration, target: Target) -> list[str]:
    """The statements of one migration for `target`."""
    on_cluster = f" ON CLUSTER {target.cluster}" if target.cluster else ""
    local = "_local" if target.cluster else ""
    body = "\n".join(
        line for line in migration.template.splitlines() if not line.lstrip().startswith("--")
    )
    statements = []
    for raw in body.split(";"):
        if not raw.strip():
            continue
        statements.append(
            raw.strip().format(
                database=target.database,
                on_cluster=on_cluster,
                local=local,
                engine=_engine(target, _table_of(raw) + local),
                skeleton_days=target.skeleton_days,
            )
        )
    if target.cluster:
        for table in migration.distributed:
            statements.append(
                f"CREATE TABLE IF NOT EXISTS {target.database}.{table}{on_cluster} "
                f"AS {target.database}.{table}_local "
                f"ENGINE = Distributed({target.cluster}, {target.database}, {table}_local, "
                "cityHash64(chain_id))"
            )
    return statements


def bookkeeping(target: Target) -> list[str]:
    on_cluster = f" ON CLUSTER {target.cluster}" if target.cluster else ""
    engine = "MergeTree"
    if target.cluster:
        # One table replicated to every server of every shard: a `migrate` (or a sink's
        # start) on any of them sees what was applied ON CLUSTER from another.
        path = f"/clickhouse/tables/all/{target.database}/schema_migrations"
        engine = f"ReplicatedMergeTree('{path}', '{{shard}}-{{replica}}')"
    return [
        f"CREATE DATABASE IF NOT EXISTS {target.database}{on_cluster}",
        f"CREATE TABLE IF NOT EXISTS {target.database}.schema_migrations{on_cluster} "
        "(version UInt32, name String, checksum String, applied_at DateTime64(3, 'UTC')) "
        f"ENGINE = {engine} ORDER BY version",
    ]


def applied(client: ClickHouseClient, target: Target) -> dict[int, str]:
    table = f"{target.database}.schema_migrations"  # Target checks the name
    result = client.query(f"SELECT version, checksum FROM {table}")  # noqa: S608
    return {int(version): str(checksum) for version, checksum in result.result_rows}


def migrate(
    client: ClickHouseClient, directory: str | os.PathLike[str], target: Target
) -> list[Migration]:
    """Apply what is not applied yet, in order, then make the ingest view current;
    returns the migrations applied."""
    for statement in bookkeeping(target):
        client.command(statement)
    done = applied(client, target)
    newly = []
    for migration in load(directory):
        if migration.version in done:
            if done[migration.version] != migration.checksum:
                log.warning(
                    "migration %04d_%s changed after it was applied; not re-applied",
                    migration.version,
                    migration.name,
                )
            continue
        for statement in render(migration, target):
            client.command(statement)
        client.insert(
            f"{target.database}.schema_migrations",
            [[migration.version, migration.name, migration.checksum, dt.datetime.now(dt.UTC)]],
            column_names=["version", "name", "checksum", "applied_at"],
        )
        log.info("applied migration %04d_%s", migration.version, migration.name)
        newly.append(migration)
    ingest.ensure(client, target)
    return newly
