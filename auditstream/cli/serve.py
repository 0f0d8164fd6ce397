"""`auditstream serve`: the ClickHouse sink plus the web application (JSON API,
auditor's console, /metrics, /health).

With an embedded store (chdb) only one process may open it, so the process that
writes must also answer queries: this is that process. `auditstream console` serves
the same application over a store another process writes.
"""

from __future__ import annotations

import argparse
import logging
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from auditstream.cli import common
from auditstream.clickhouse import migrations
from auditstream.clickhouse.client import ClickHouseClient, connect, redact
from auditstream.query.api import load_tokens
from auditstream.settings import keyfiles
from auditstream.settings.config import Settings
from auditstream.settings.resources import schemas_dir
from auditstream.web import app, server

log = logging.getLogger(__name__)


def add_web_args(parser: argparse.ArgumentParser) -> None:
    """Options of both commands that serve the web application."""
    common.add_settings_args(parser)
    common.add_clickhouse_args(parser)
    parser.add_argument("--tokens", type=Path, required=True, help="bearer tokens file (TOML)")
    parser.add_argument(
        "--public-keys",
        "--pubkey",
        dest="public_keys",
        type=Path,
        metavar="FILE",
        help="trusted checkpoint public keys for the verified badge and proofs "
        "(default: AUDITSTREAM_PUBLIC_KEYS_FILE; never taken from the store)",
    )
    parser.add_argument("--policy", type=Path, help="retention policy shown on the retention page")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8088, help="port (0: any free port)")
    parser.add_argument("--port-file", type=Path, help="write the bound port here")
    parser.add_argument("--tls-cert", type=Path, metavar="PEM", help="serve HTTPS with this cert")
    parser.add_argument("--tls-key", type=Path, metavar="PEM", help="the certificate's key")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "serve", help="ClickHouse sink plus the web console and JSON API"
    )
    add_web_args(parser)
    parser.add_argument("--no-sink", action="store_true", help="only answer queries")
    parser.add_argument("--partitions", type=int, help="partitions of the pipeline topics")
    parser.set_defaults(func=run)


def listen_of(args: argparse.Namespace) -> server.Listen:
    listen = server.Listen(args.host, args.port, args.tls_cert, args.tls_key)
    server.check_tls(listen)
    return listen


def web_settings(
    args: argparse.Namespace,
    settings: Settings,
    client: ClickHouseClient,
    database: str,
    lock: threading.Lock,
    health: Callable[[], dict[str, Any]] = dict,
) -> app.Settings:
    """The application's settings from the command line; files are read here, so that
    a bad one stops the command before it listens."""
    keys = args.public_keys or settings.public_keys_file
    verifiers = keyfiles.load_verifiers(keys) if keys is not None else []
    if not verifiers:
        log.warning("no checkpoint public key given: events show as not verifiable")
    return app.Settings(
        client=client,
        database=database,
        grants=load_tokens(args.tokens),
        verifiers=verifiers,
        policy=common.policy(settings),
        lock=lock,
        tls=args.tls_cert is not None,
        health=health,
    )


def announce(args: argparse.Namespace, running: server.Running, dsn: str) -> None:
    if args.port_file:
        args.port_file.write_text(str(running.port))
    scheme = "https" if args.tls_cert else "http"
    print(
        f"console and API on {scheme}://{args.host}:{running.port}/ over {redact(dsn)}", flush=True
    )


def run(args: argparse.Namespace) -> int:
    from auditstream.sinks.clickhouse import ClickHouseSink, SinkConfig  # noqa: PLC0415

    settings = common.settings_from(args)
    listen = listen_of(args)
    dsn = args.clickhouse or settings.effective_clickhouse_dsn
    database = args.database or settings.clickhouse_database
    load_tokens(args.tokens)  # a bad tokens file stops us before the store is opened
    client = connect(dsn)
    migrations.migrate(client, schemas_dir() / "clickhouse", migrations.Target(database=database))
    lock = threading.Lock()  # one embedded engine: queries and inserts take turns
    topics = settings.topics
    if args.partitions:
        topics = replace(topics, partitions=args.partitions)
    sink = ClickHouseSink(
        client,
        SinkConfig(bootstrap=settings.kafka_bootstrap, topics=topics, database=database),
        lock=lock,
    )

    def health() -> dict[str, Any]:
        return {"sink": not args.no_sink, "rows_inserted": sink.rows_inserted}

    web = web_settings(args, settings, client, database, lock, health)
    running = server.start(app.create_app(web), listen)
    announce(args, running, dsn)
    stop = common.stop_on_signals()
    try:
        if args.no_sink:
            stop.wait()
        else:
            sink.run(stop)
    finally:
        running.stop()
    return 0
