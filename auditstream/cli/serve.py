"""`auditstream serve`: the ClickHouse sink plus the read-only HTTP query API.

With an embedded store (chdb) only one process may open it, so the process that
writes must also answer queries: this is that process.
"""

from __future__ import annotations

import argparse
import logging
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

from auditstream.cli import common
from auditstream.clickhouse import migrations
from auditstream.clickhouse.client import connect, redact
from auditstream.producers import AuditProducer, ProducerConfig
from auditstream.query.access import COMPONENT, AccessLog, is_tenant_id
from auditstream.query.api import QueryApi, load_tokens
from auditstream.query.api import serve as serve_api
from auditstream.query.store import AuditStore
from auditstream.settings.config import Settings
from auditstream.settings.resources import schemas_dir

log = logging.getLogger(__name__)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("serve", help="ClickHouse sink plus the HTTP query API")
    common.add_settings_args(parser)
    common.add_clickhouse_args(parser)
    parser.add_argument("--tokens", type=Path, required=True, help="bearer tokens file (TOML)")
    parser.add_argument("--port", type=int, default=8088, help="API port (0: any free port)")
    parser.add_argument("--port-file", type=Path, help="write the bound port here")
    parser.add_argument("--no-sink", action="store_true", help="only answer queries")
    parser.add_argument("--partitions", type=int, help="partitions of the pipeline topics")
    parser.add_argument(
        "--access-log",
        metavar="TENANT",
        type=_tenant,
        help="record every API request as an audit event (to Kafka, like any producer); "
        "requests that name no single tenant go to TENANT",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from auditstream.sinks.clickhouse import ClickHouseSink, SinkConfig  # noqa: PLC0415

    settings = common.settings_from(args)
    dsn = args.clickhouse or settings.effective_clickhouse_dsn
    database = args.database or settings.clickhouse_database
    client = connect(dsn)
    migrations.migrate(client, schemas_dir() / "clickhouse", migrations.Target(database=database))
    lock = threading.Lock()  # one embedded engine: queries and inserts take turns
    grants = load_tokens(args.tokens)
    access = _access_log(args.access_log, settings)
    api = QueryApi(
        lambda tenants: AuditStore(client, database, tenants=tenants, lock=lock), grants, access
    )
    server = serve_api(api, args.port)
    port = server.server_address[1]
    if args.port_file:
        args.port_file.write_text(str(port))
    print(f"query API on http://127.0.0.1:{port}/ over {redact(dsn)}", flush=True)
    stop = common.stop_on_signals()
    if args.no_sink:
        stop.wait()
    else:
        topics = settings.topics
        if args.partitions:
            topics = replace(topics, partitions=args.partitions)
        sink = ClickHouseSink(
            client,
            SinkConfig(bootstrap=settings.kafka_bootstrap, topics=topics, database=database),
            lock=lock,
        )
        sink.run(stop)
    server.shutdown()
    if access is not None:
        access.producer.close()
    return 0


def _tenant(text: str) -> str:
    if not is_tenant_id(text):
        raise argparse.ArgumentTypeError(f"not a valid tenant id: {text[:80]!r}")
    return text


def _access_log(tenant: str | None, settings: Settings) -> AccessLog | None:
    if tenant is None:
        return None
    config = ProducerConfig(
        bootstrap=settings.kafka_bootstrap,
        topic=settings.topics.raw,
        spool_dir=settings.state_dir / "access-log-spool",
        tenant_id=tenant,
        component=COMPONENT,
    )
    return AccessLog(AuditProducer(config))
