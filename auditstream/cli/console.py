"""`auditstream console`: the web application (console, JSON API, /metrics, /health)
over a ClickHouse store that another process writes — a ClickHouse server
(`--clickhouse https://...`), or an embedded store no other process has open.

Read-only: it never creates or migrates the store, and every query runs with
`readonly = 1`.
"""

from __future__ import annotations

import argparse
import threading
from typing import Any

from auditstream.cli import common
from auditstream.cli.serve import access_log, add_web_args, announce, prepare
from auditstream.clickhouse.client import ClickHouseClient, connect, redact
from auditstream.clickhouse.sql import ident
from auditstream.errors import ConfigError
from auditstream.web import app, server


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "console", help="the web console and JSON API over a store (read-only)"
    )
    add_web_args(parser)
    parser.set_defaults(func=run)


def _check_store(client: ClickHouseClient, database: str) -> None:
    found = client.query(
        "SELECT count() FROM system.tables WHERE database = {db:String} "
        "AND name IN ('audit_events', 'audit_checkpoints')",
        parameters={"db": ident(database)},
    ).result_rows[0][0]
    if int(found) != 2:
        raise ConfigError(
            f"database {database!r} holds no auditstream tables (run `auditstream migrate`)"
        )


def run(args: argparse.Namespace) -> int:
    command = prepare(args)
    client = connect(command.dsn, create=False, auth=command.settings.clickhouse)
    _check_store(client, command.database)
    access = access_log(args, command.settings)
    web = command.files.settings(
        client, command.database, threading.Lock(), access_log=access, described=redact(command.dsn)
    )
    try:
        running = server.start(app.create_app(web), command.listen)
        announce(args, command.files, running, command.dsn)
        common.stop_on_signals().wait()
        running.stop()
    finally:
        if access is not None:
            access.producer.close()
    return 0
