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
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from auditstream.cli import common
from auditstream.clickhouse import migrations
from auditstream.clickhouse.client import ClickHouseClient, connect, redact
from auditstream.core.keys import NoteVerifier
from auditstream.core.retention import Policy
from auditstream.errors import ConfigError
from auditstream.producers import AuditProducer, ProducerConfig
from auditstream.query.access import COMPONENT, AccessLog, is_tenant_id
from auditstream.query.api import Grant, load_tokens
from auditstream.settings import keyfiles
from auditstream.settings.config import Settings
from auditstream.settings.resources import default_policy_file, schemas_dir
from auditstream.web import app, server
from auditstream.web.packs import PackSettings

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
    parser.add_argument(
        "--report-key",
        type=Path,
        metavar="FILE",
        help="Ed25519 signer key for evidence packs (/v1/reports, the console's Reports "
        "page); without it they answer 503",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=_port, default=8088, help="port (0: any free port)")
    parser.add_argument("--port-file", type=Path, help="write the bound port here")
    parser.add_argument("--tls-cert", type=Path, metavar="PEM", help="serve HTTPS with this cert")
    parser.add_argument("--tls-key", type=Path, metavar="PEM", help="the certificate's key")
    parser.add_argument(
        "--access-log",
        metavar="TENANT",
        type=_tenant,
        help="record every request as an audit event (to Kafka, like any producer); "
        "requests that name no single tenant go to TENANT",
    )


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"not a port number (0-65535): {text!r}")
    return int(text)


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


@dataclass(frozen=True)
class WebFiles:
    """What the application reads from files, read before any store is opened so that
    a bad file stops the command first."""

    grants: list[Grant]
    verifiers: list[NoteVerifier]
    policy: Policy
    tls: bool
    packs: PackSettings | None = None

    def settings(
        self,
        client: ClickHouseClient,
        database: str,
        lock: threading.Lock,
        health: Callable[[], dict[str, Any]] = dict,
        access_log: AccessLog | None = None,
        described: str = "",
    ) -> app.Settings:
        return app.Settings(
            client=client,
            database=database,
            grants=self.grants,
            verifiers=self.verifiers,
            policy=self.policy,
            lock=lock,
            tls=self.tls,
            health=health,
            access_log=access_log,
            packs=self.packs,
            described=described,
        )


@dataclass(frozen=True)
class WebCommand:
    """A web command's settings, read and checked before anything is opened."""

    settings: Settings
    listen: server.Listen
    dsn: str
    database: str
    files: WebFiles


def prepare(args: argparse.Namespace) -> WebCommand:
    settings = common.settings_from(args)
    listen = listen_of(args)
    return WebCommand(
        settings,
        listen,
        args.clickhouse or settings.effective_clickhouse_dsn,
        args.database or settings.clickhouse_database,
        read_web_files(args, settings),
    )


def read_web_files(args: argparse.Namespace, settings: Settings) -> WebFiles:
    grants = load_tokens(args.tokens)
    if not grants:
        raise ConfigError(f"tokens file {args.tokens} names no token: nobody could sign in")
    keys = args.public_keys or settings.public_keys_file
    verifiers = keyfiles.load_verifiers(keys) if keys is not None else []
    policy = common.policy(settings)
    packs = None
    if args.report_key is not None:
        if not verifiers:
            raise ConfigError("--report-key needs the checkpoint public keys (--public-keys FILE)")
        policy_path = settings.policy_file or default_policy_file()
        packs = PackSettings(
            keyfiles.load_signer(args.report_key),
            policy_path.read_text(encoding="utf-8"),
            policy.version,
        )
    return WebFiles(grants, verifiers, policy, args.tls_cert is not None, packs)


def announce(args: argparse.Namespace, files: WebFiles, running: server.Running, dsn: str) -> None:
    if not files.verifiers:
        log.warning("no checkpoint public key given (--public-keys): nothing shows as verified")
    if args.port_file:
        args.port_file.write_text(str(running.port))
    scheme = "https" if args.tls_cert else "http"
    print(
        f"console and API on {scheme}://{args.host}:{running.port}/ over {redact(dsn)}", flush=True
    )


def run(args: argparse.Namespace) -> int:
    from auditstream.sinks.clickhouse import ClickHouseSink, SinkConfig  # noqa: PLC0415

    command = prepare(args)
    settings, database, files = command.settings, command.database, command.files
    client = connect(command.dsn, auth=settings.clickhouse)
    migrations.migrate(
        client,
        schemas_dir() / "clickhouse",
        migrations.Target(database, settings.clickhouse_cluster),
    )
    lock = threading.Lock()  # one embedded engine: queries and inserts take turns
    topics = settings.topics
    if args.partitions:
        topics = replace(topics, partitions=args.partitions)
    sink = ClickHouseSink(
        client,
        SinkConfig(kafka=settings.kafka, topics=topics, database=database),
        lock=lock,
    )

    def health() -> dict[str, Any]:
        return {"sink": not args.no_sink, "rows_inserted": sink.rows_inserted}

    access = access_log(args, settings)
    web = files.settings(client, database, lock, health, access, redact(command.dsn))
    try:
        running = server.start(app.create_app(web), command.listen)
        announce(args, files, running, command.dsn)
        stop = common.stop_on_signals()
        try:
            if args.no_sink:
                stop.wait()
            else:
                sink.run(stop)
        finally:
            running.stop()
    finally:
        if access is not None:
            access.producer.close()
    return 0


def _tenant(text: str) -> str:
    if not is_tenant_id(text):
        raise argparse.ArgumentTypeError(f"not a valid tenant id: {text[:80]!r}")
    return text


def access_log(args: argparse.Namespace, settings: Settings) -> AccessLog | None:
    """The access log of `--access-log TENANT`, if given (close its producer at the end)."""
    if args.access_log is None:
        return None
    config = ProducerConfig(
        kafka=settings.kafka,
        topic=settings.topics.raw,
        spool_dir=settings.state_dir / "access-log-spool",
        tenant_id=args.access_log,
        component=COMPONENT,
    )
    return AccessLog(AuditProducer(config))
