"""`auditstream tlog serve` (the archive's transparency logs over HTTP, read-only),
`tlog publish-key` (the checkpoint verifier keys as `v1/tlog/vkeys`, a convenience:
verifiers take keys from the operator, not the archive) and `tlog witness` (get every
archived checkpoint cosigned by the configured C2SP witnesses)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
from pathlib import Path
from typing import Any

from auditstream.archive.http import TlogApp
from auditstream.archive.store import open_archive
from auditstream.archive.tiling import publish_verifier_keys
from auditstream.cli import common
from auditstream.errors import ConfigError
from auditstream.producers import AuditProducer, ProducerConfig
from auditstream.runtime import metrics
from auditstream.settings import keyfiles
from auditstream.settings.config import Settings
from auditstream.witness.alerts import Alerts, AuditAlerts, LogAlerts
from auditstream.witness.client import Witness
from auditstream.witness.feeder import FeederConfig, WitnessFeeder

log = logging.getLogger(__name__)


def _witness(text: str) -> Witness:
    try:
        return Witness.parse(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _port(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0-65535)")
    return int(text)


def register(subparsers: Any) -> None:
    tlog = subparsers.add_parser("tlog", help="the archive's C2SP transparency logs")
    actions = tlog.add_subparsers(dest="action", metavar="ACTION", required=True)

    serve = actions.add_parser("serve", help="serve the tiles and checkpoints over HTTP")
    common.add_settings_args(serve)
    serve.add_argument("--archive", metavar="URL", required=True, help="s3:// or file://")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=_port, default=8090, help="0 picks a free port")
    serve.set_defaults(func=run_serve)

    publish = actions.add_parser(
        "publish-key", help="add checkpoint verifier keys to the archive's v1/tlog/vkeys"
    )
    common.add_settings_args(publish)
    publish.add_argument("--archive", metavar="URL", required=True, help="s3:// or file://")
    publish.add_argument(
        "--pubkey", type=Path, required=True, help="verifier keys, one a line (keys export-public)"
    )
    publish.set_defaults(func=run_publish_key)

    witness = actions.add_parser(
        "witness", help="submit every checkpoint to C2SP witnesses, store their cosignatures"
    )
    common.add_settings_args(witness)
    witness.add_argument("--archive", metavar="URL", required=True, help="s3:// or file://")
    witness.add_argument(
        "--witness",
        dest="witnesses",
        metavar="URL=VKEY",
        type=_witness,
        action="append",
        required=True,
        help="a witness's submission prefix and cosignature/v1 verifier key (repeatable)",
    )
    witness.add_argument("--tenant", help="only this tenant's chains")
    witness.add_argument("--chain", help="only this chain")
    witness.add_argument("--once", action="store_true", help="one round, then print a summary")
    witness.add_argument(
        "--interval", type=common.positive_seconds, default=5.0, help="seconds between rounds"
    )
    witness.add_argument(
        "--metrics-port", type=_port, help="serve /metrics and /health here (not with --once)"
    )
    witness.add_argument(
        "--audit-events",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="record each refusal as an audit event through Kafka (default on)",
    )
    witness.set_defaults(func=run_witness)


def run_serve(args: argparse.Namespace) -> int:
    import uvicorn  # noqa: PLC0415

    settings = common.settings_from(args)
    app = TlogApp(open_archive(args.archive, settings.s3, must_exist=True))
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=args.host,
            port=args.port,
            lifespan="off",
            log_config=None,
            access_log=False,
        )
    )
    # Served from a thread so that SIGTERM and SIGINT stop it like every other
    # long-running command (uvicorn re-raises a signal it handled itself).
    thread = threading.Thread(target=server.run, name="tlog-serve", daemon=True)
    stop = common.stop_on_signals()
    thread.start()
    while not stop.wait(0.5) and thread.is_alive():
        pass
    server.should_exit = True
    thread.join(30)
    return 0 if server.started else 2


def run_publish_key(args: argparse.Namespace) -> int:
    settings = common.settings_from(args)
    verifiers = keyfiles.load_verifiers(args.pubkey)
    store = open_archive(args.archive, settings.s3, must_exist=True)
    changed = publish_verifier_keys(store, verifiers)
    names = ", ".join(v.name for v in verifiers)
    print(f"{'published' if changed else 'already published'}: {names}", file=sys.stderr)
    return 0


def _alerts(args: argparse.Namespace, settings: Settings) -> tuple[Alerts, AuditProducer | None]:
    if not args.audit_events:
        return LogAlerts(), None
    config = ProducerConfig(
        kafka=settings.kafka,
        topic=settings.topics.raw,
        spool_dir=settings.state_dir / "witness-spool",
        component="auditstream-witness",
    )
    producer = AuditProducer(config)
    return AuditAlerts(producer), producer


def run_witness(args: argparse.Namespace) -> int:
    settings = common.settings_from(args)
    store = open_archive(args.archive, settings.s3, must_exist=True)
    alerts, producer = _alerts(args, settings)
    config = FeederConfig(tenant=args.tenant, chain=args.chain)
    feeder = WitnessFeeder(store, args.witnesses, alerts, config)
    try:
        if args.once:
            summary = feeder.round()
            print(json.dumps(summary.to_json(), indent=2))
            return 1 if summary.refusals else 0
        port = args.metrics_port or settings.metrics_port
        if port:
            metrics.serve(port, lambda: {"ok": True})
        feeder.run(common.stop_on_signals(), args.interval)
        return 0
    finally:
        feeder.close()
        if producer is not None:
            if not producer.flush(30):
                print(
                    "auditstream tlog witness: refusal events not yet acknowledged by Kafka "
                    "stay in the spool for the next run",
                    file=sys.stderr,
                )
            producer.close()
