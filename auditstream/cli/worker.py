"""`auditstream worker`: run the stream processor (a Faust worker around the sealing loop)."""

from __future__ import annotations

import argparse
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

from auditstream.cli import common
from auditstream.processors import DEFAULT_BATCH_SIZE
from auditstream.runtime import logs
from auditstream.settings import keyfiles

log = logging.getLogger(__name__)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "worker", help="validate, classify and seal raw events (exactly once)"
    )
    common.add_settings_args(parser)
    common.add_key_args(parser)
    parser.add_argument(
        "--dead-letter-key",
        type=Path,
        help="operator's dead-letter public key (.pub of `keys generate --dead-letter`): "
        "dead letters keep their original only encrypted for it "
        "(default: AUDITSTREAM_DEAD_LETTER_KEY_FILE, or the key in AUDITSTREAM_DEAD_LETTER_KEY)",
    )
    common.add_subject_args(
        parser,
        "encrypt personal fields under per-subject keys kept in this folder, for "
        "erasure on request",
    )
    parser.add_argument(
        "--partitions", type=common.positive_count, help="partitions of every pipeline topic"
    )
    parser.add_argument(
        "--batch-size",
        type=common.positive_count,
        default=DEFAULT_BATCH_SIZE,
        help=f"raw records per transaction, at most (default {DEFAULT_BATCH_SIZE})",
    )
    parser.add_argument(
        "--checkpoint-every",
        type=common.positive_count,
        default=1000,
        help="entries per chain between checkpoints",
    )
    parser.add_argument(
        "--checkpoint-interval",
        type=common.positive_seconds,
        default=10.0,
        help="seconds after which new entries get a checkpoint",
    )
    parser.add_argument(
        "--gap-after",
        type=common.positive_seconds,
        default=60.0,
        help="seconds a skipped producer sequence number may arrive late before the "
        "worker seals a gap finding",
    )
    parser.add_argument(
        "--batch-wait",
        type=common.positive_seconds,
        default=0.05,
        help="seconds a transaction waits for its batch to fill",
    )
    parser.add_argument("--metrics-port", type=int, help="serve /metrics and /health here")
    parser.add_argument(
        "--app-id",
        type=common.kafka_name,
        default="auditstream-processor",
        help="consumer group id",
    )
    parser.add_argument(
        "--instance-id",
        type=common.kafka_name,
        help="this worker slot's stable name, reused by its replacement: it names the "
        "transactional id and the static group member (default: host and pid)",
    )
    parser.add_argument(
        "--max-record-bytes",
        type=common.positive_count,
        default=1_048_576,
        help="larger records are dead letters",
    )
    parser.add_argument(
        "--max-future-skew",
        type=common.positive_seconds,
        default=300.0,
        help="seconds an event time may be ahead of Kafka's timestamp",
    )
    parser.add_argument(
        "--session-timeout",
        type=common.positive_seconds,
        default=10.0,
        help="seconds before a silent worker's partitions move to others",
    )
    parser.add_argument(
        "--stall-timeout",
        type=common.positive_seconds,
        default=60.0,
        help="seconds without a record while records wait before the worker, wedged, "
        "exits to be restarted",
    )
    parser.set_defaults(func=run, owns_logging=True)


def run(args: argparse.Namespace) -> int:
    # The worker extra (faust) is imported only when this command runs.
    import faust  # noqa: PLC0415

    from auditstream.core.validate import Limits  # noqa: PLC0415
    from auditstream.processors.app import WorkerConfig, build_app  # noqa: PLC0415
    from auditstream.processors.engine import EngineConfig  # noqa: PLC0415
    from auditstream.processors.topics import ensure_topics  # noqa: PLC0415
    from auditstream.runtime import metrics  # noqa: PLC0415

    settings = common.settings_from(args)
    topics = settings.topics
    if args.partitions:
        topics = replace(topics, partitions=args.partitions)
    config = WorkerConfig(
        kafka=settings.kafka,
        topics=topics,
        keyring=common.keyring(settings),
        signer=common.signer(settings),
        content=common.content_policy(settings),
        policy=common.policy(settings),
        dead_letters=keyfiles.load_dead_letter_recipient(settings.dead_letter_key_file),
        state_dir=settings.state_dir,
        app_id=args.app_id,
        engine=EngineConfig(
            checkpoint_every=args.checkpoint_every,
            checkpoint_interval_s=args.checkpoint_interval,
            gap_after_s=args.gap_after,
        ),
        batch_size=args.batch_size,
        batch_within_s=args.batch_wait,
        instance_id=args.instance_id or "",
        session_timeout_s=args.session_timeout,
        stall_timeout_s=args.stall_timeout,
        protection=common.subject_protection(settings),
        limits=Limits(
            max_record_bytes=args.max_record_bytes, max_future_skew_s=args.max_future_skew
        ),
    )
    config.state_dir.mkdir(parents=True, exist_ok=True)
    ensure_topics(config.kafka, topics)
    app, sealer = build_app(config)
    port = args.metrics_port if args.metrics_port is not None else settings.metrics_port
    if port:
        metrics.serve(port, sealer.loop.health)
    log.info(
        "processor %s on %s, %d partitions",
        config.app_id,
        config.kafka.bootstrap,
        topics.partitions,
    )
    level = "DEBUG" if args.verbose else "INFO"
    worker = faust.Worker(
        app,
        loglevel=level,
        quiet=True,
        logging_config=logs.dict_config(args.log_format, level),
    )
    worker.execute_from_commandline()
    return 0
