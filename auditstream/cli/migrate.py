"""`auditstream migrate`: create or update the ClickHouse schema."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from auditstream.cli import common
from auditstream.clickhouse import migrations
from auditstream.clickhouse.client import connect, redact
from auditstream.security import clickhouse_grants
from auditstream.settings.resources import schemas_dir


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "migrate", help="apply ClickHouse schema migrations (idempotent)"
    )
    common.add_settings_args(parser)
    parser.add_argument(
        "--clickhouse", metavar="DSN", help="chdb:///path or http(s)://user:pw@host:8123"
    )
    parser.add_argument("--database", help="database name (default: auditstream)")
    parser.add_argument(
        "--cluster",
        help="render for this cluster: Replicated + Distributed "
        "(default: AUDITSTREAM_CLICKHOUSE_CLUSTER; none: one server)",
    )
    parser.add_argument(
        "--skeleton-days",
        type=int,
        default=migrations.DEFAULT_SKELETON_DAYS,
        help="days the chain skeleton outlives content",
    )
    parser.add_argument(
        "--migrations", type=Path, help="migrations folder (default: the packaged ones)"
    )
    parser.add_argument("--print", action="store_true", help="print the SQL instead of running it")
    parser.add_argument(
        "--print-grants",
        action="store_true",
        help="print the roles and grants of least privilege for a server (sink, reader)",
    )
    parser.add_argument("--sink-user", action="append", default=[], help="grant it the sink role")
    parser.add_argument(
        "--query-user", action="append", default=[], help="grant it the read-only role"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = common.settings_from(args)
    folder = args.migrations or schemas_dir() / "clickhouse"
    target = migrations.Target(
        database=args.database or settings.clickhouse_database,
        cluster=settings.clickhouse_cluster if args.cluster is None else args.cluster,
        skeleton_days=args.skeleton_days,
    )
    if args.print_grants:
        for statement in clickhouse_grants.statements(target, args.sink_user, args.query_user):
            print(statement + ";")
        return 0
    if args.print:
        for statement in migrations.bookkeeping(target):
            print(statement + ";\n")
        for migration in migrations.load(folder):
            print(f"-- {migration.version:04d}_{migration.name}")
            for statement in migrations.render(migration, target):
                print(statement + ";\n")
        return 0
    dsn = args.clickhouse or settings.effective_clickhouse_dsn
    applied = migrations.migrate(connect(dsn, auth=settings.clickhouse), folder, target)
    names = ", ".join(f"{m.version:04d}_{m.name}" for m in applied) or "nothing new"
    print(f"{redact(dsn)} database {target.database}: applied {names}")
    return 0
