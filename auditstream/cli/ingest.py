"""`auditstream ingest otlp | http`: take in audit events from systems that already emit
them (docs/integrations.md).

    otlp   OpenTelemetry spans the Collector's Kafka exporter writes (otlp_proto)
    http   lokryn-mcp-log's HTTPSink (POST /v1/log and /v1/log/protobuf, signed)
"""

from __future__ import annotations

import argparse
import logging
import os
import stat
import threading
from pathlib import Path
from typing import Any

from auditstream.cli import common
from auditstream.core.chain import is_valid_chain_id
from auditstream.errors import ConfigError
from auditstream.producers import AuditProducer, ProducerConfig
from auditstream.runtime import metrics
from auditstream.settings.config import Settings
from auditstream.settings.secret import Secret

log = logging.getLogger(__name__)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("ingest", help="take in OTLP spans or lokryn-mcp-log records")
    kinds = parser.add_subparsers(dest="kind", metavar="KIND", required=True)
    otlp = kinds.add_parser("otlp", help="GenAI/MCP spans from the Collector's Kafka exporter")
    _common(otlp)
    otlp.add_argument("--topic", default="otlp_spans", help="topic the Collector writes to")
    otlp.add_argument("--group-id", default="auditstream-ingest-otlp", help="consumer group")
    otlp.add_argument(
        "--commit-interval", type=float, default=1.0, help="seconds between offset commits"
    )
    otlp.set_defaults(func=run_otlp)
    http = kinds.add_parser("http", help="an HTTP receiver for lokryn-mcp-log's HTTPSink")
    _common(http)
    http.add_argument("--host", default="127.0.0.1", help="address to listen on")
    http.add_argument("--port", type=int, default=8088, help="port to listen on")
    http.add_argument(
        "--secret-file", type=Path, help="file holding the HMAC key the senders sign with"
    )
    http.add_argument("--max-body", type=int, default=1024 * 1024, help="largest body, bytes")
    http.set_defaults(func=run_http)


def _common(parser: argparse.ArgumentParser) -> None:
    common.add_settings_args(parser)
    parser.add_argument("--tenant", required=True, help="tenant (and chain) of the events")
    parser.add_argument("--content-keys", type=Path, help="content digest salt keyring file")
    parser.add_argument("--spool-dir", type=Path, help="producer spool (default: under state)")
    parser.add_argument("--metrics-port", type=int, help="serve /metrics and /health here")


def _producer(args: argparse.Namespace, settings: Settings) -> AuditProducer:
    """The producer of an ingest command. A full spool raises (overflow="raise"): the
    receiver answers 503, the OTLP ingest stops before committing what it could not
    record, so nothing taken in is dropped."""
    if not is_valid_chain_id(args.tenant) or "/" in args.tenant:
        raise ConfigError(f"--tenant {args.tenant[:80]!r} is not a valid tenant id")
    content = common.content_policy(settings)
    spool = args.spool_dir or settings.state_dir / f"ingest-{args.kind}-{args.tenant}-spool"
    config = ProducerConfig(
        kafka=settings.kafka,
        topic=settings.topics.raw,
        spool_dir=spool,
        tenant_id=args.tenant,
        component=f"auditstream-ingest-{args.kind}",
        overflow="raise",
    )
    return AuditProducer(config, content=content)


def _port(value: int | None, flag: str) -> int | None:
    if value is not None and not 0 <= value <= 65535:
        raise ConfigError(f"{flag} {value} is not a port number (0-65535)")
    return value


def run_otlp(args: argparse.Namespace) -> int:
    from auditstream.integrations.ingest import OtlpIngest, OtlpIngestConfig  # noqa: PLC0415

    settings = common.settings_from(args)
    if not args.topic.strip():
        raise ConfigError("--topic must name a topic")
    if not args.commit_interval > 0:
        raise ConfigError(f"--commit-interval must be positive, not {args.commit_interval}")
    port = _port(args.metrics_port, "--metrics-port")
    producer = _producer(args, settings)
    ingest = OtlpIngest(
        producer,
        OtlpIngestConfig(
            kafka=settings.kafka,
            topic=args.topic,
            deadletter_topic=settings.topics.deadletter,
            group_id=args.group_id,
            commit_interval_s=args.commit_interval,
        ),
    )
    if port or settings.metrics_port:
        metrics.serve(port or settings.metrics_port, ingest.health)
    log.info("OTLP ingest: %s -> %s (tenant %s)", args.topic, settings.topics.raw, args.tenant)
    try:
        ingest.run(common.stop_on_signals())
    finally:
        producer.close()
    log.info("OTLP ingest stopped: %s", dict(ingest.counts))
    return 0


def read_secret(path: Path | None) -> Secret:
    """The HMAC key from its file (surrounding whitespace removed)."""
    if path is None:
        raise ConfigError("--secret-file is required: the HMAC key lokryn's HTTPSink signs with")
    try:
        mode = os.stat(path).st_mode
        text = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"cannot read secret file {path}: {exc.strerror}") from exc
    except UnicodeDecodeError:
        raise ConfigError(f"secret file {path} is not UTF-8 text") from None
    if not text:
        raise ConfigError(f"secret file {path} is empty")
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("secret file %s is accessible by group or others; chmod 600 it", path)
    return Secret(text)


def run_http(args: argparse.Namespace) -> int:
    import uvicorn  # noqa: PLC0415

    from auditstream.integrations.lokryn_http import LokrynReceiver  # noqa: PLC0415

    settings = common.settings_from(args)
    port = _port(args.port, "--port")
    metrics_port = _port(args.metrics_port, "--metrics-port")
    if args.max_body <= 0:
        raise ConfigError(f"--max-body must be positive, not {args.max_body}")
    secret = read_secret(args.secret_file)
    producer = _producer(args, settings)
    app = LokrynReceiver(producer, secret, max_body=args.max_body)
    if metrics_port or settings.metrics_port:
        metrics.serve(metrics_port or settings.metrics_port, lambda: {"ok": True, **app.counts})
    server = uvicorn.Server(
        uvicorn.Config(app, host=args.host, port=port or 0, log_config=None, access_log=False)
    )
    # Served from a thread so that SIGTERM and SIGINT stop it the way they stop every
    # other long-running command (uvicorn re-raises a signal it handled itself).
    thread = threading.Thread(target=server.run, name="lokryn-receiver", daemon=True)
    stop = common.stop_on_signals()
    producer.start()
    try:
        thread.start()
        while not stop.wait(0.5) and thread.is_alive():
            pass
        server.should_exit = True
        thread.join(30)
    finally:
        producer.close()
    if not server.started:
        raise ConfigError(f"cannot serve on {args.host}:{port} (see the log above)")
    log.info("lokryn receiver stopped: %s", app.counts)
    return 0
