"""`auditstream sink clickhouse | s3`: write sealed entries to a store."""

from __future__ import annotations

import argparse
import logging
from dataclasses import replace
from typing import Any

from auditstream.cli import common
from auditstream.clickhouse import migrations
from auditstream.clickhouse.client import connect, redact
from auditstream.runtime import metrics
from auditstream.settings.resources import schemas_dir

log = logging.getLogger(__name__)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("sink", help="write sealed entries to ClickHouse or S3")
    kinds = parser.add_subparsers(dest="kind", metavar="KIND", required=True)
    ch = kinds.add_parser("clickhouse", help="sealed entries and checkpoints into ClickHouse")
    common.add_settings_args(ch)
    common.add_clickhouse_args(ch)
    ch.add_argument("--partitions", type=int, help="partitions of the pipeline topics")
    ch.add_argument("--batch-rows", type=int, default=50_000, help="insert after this many rows")
    ch.add_argument("--batch-seconds", type=float, default=1.0, help="or after this long")
    ch.add_argument(
        "--group-id",
        type=common.kafka_name,
        default="auditstream-sink-clickhouse",
        help="consumer group",
    )
    ch.add_argument("--metrics-port", type=int, help="serve /metrics and /health here")
    common.add_subject_args(
        ch, "the workers' subject vault: store clear copies of protected fields for live subjects"
    )
    ch.set_defaults(func=run_clickhouse)
    s3 = kinds.add_parser("s3", help="sealed entries into archive segments (S3 or file://)")
    common.add_settings_args(s3)
    s3.add_argument("--archive", metavar="URL", help="s3://bucket/prefix or file:///path")
    s3.add_argument("--max-entries", type=int, default=10_000, help="close a segment at this many")
    s3.add_argument("--max-bytes", type=int, default=64 * 1024 * 1024, help="or this size")
    s3.add_argument("--max-age", type=float, default=60.0, help="or after this many seconds")
    s3.add_argument(
        "--group-id",
        type=common.kafka_name,
        default="auditstream-sink-archive",
        help="consumer group",
    )
    s3.add_argument("--metrics-port", type=int, help="serve /metrics and /health here")
    s3.set_defaults(func=run_archive)


def run_clickhouse(args: argparse.Namespace) -> int:
    from auditstream.clickhouse.personal import PersonalCopies  # noqa: PLC0415
    from auditstream.sinks.clickhouse import ClickHouseSink, SinkConfig  # noqa: PLC0415

    settings = common.settings_from(args)
    topics = (
        replace(settings.topics, partitions=args.partitions) if args.partitions else settings.topics
    )
    dsn = args.clickhouse or settings.effective_clickhouse_dsn
    database = args.database or settings.clickhouse_database
    config = SinkConfig(  # checks the batch settings before anything is opened
        kafka=settings.kafka,
        topics=topics,
        database=database,
        group_id=args.group_id,
        batch_rows=args.batch_rows,
        batch_seconds=args.batch_seconds,
    )
    client = connect(dsn, auth=settings.clickhouse)
    migrations.migrate(
        client,
        schemas_dir() / "clickhouse",
        migrations.Target(database, settings.clickhouse_cluster),
    )
    protection = common.subject_protection(settings)
    personal = PersonalCopies(protection) if protection else None
    sink = ClickHouseSink(client, config, personal=personal)
    port = args.metrics_port if args.metrics_port is not None else settings.metrics_port
    if port:
        metrics.serve(port, lambda: {"ok": True, "rows_inserted": sink.rows_inserted})
    log.info("ClickHouse sink: %s -> %s (%s)", topics.sealed, redact(dsn), database)
    sink.run(common.stop_on_signals())
    log.info("ClickHouse sink stopped after %d rows", sink.rows_inserted)
    return 0


def run_archive(args: argparse.Namespace) -> int:
    from auditstream.archive.store import open_archive  # noqa: PLC0415
    from auditstream.sinks.archive import ArchiveConfig, ArchiveSink  # noqa: PLC0415

    settings = common.settings_from(args)
    archive = open_archive(args.archive or settings.effective_archive_url, settings.s3)
    sink = ArchiveSink(
        archive,
        ArchiveConfig(
            kafka=settings.kafka,
            topics=settings.topics,
            group_id=args.group_id,
            max_entries=args.max_entries,
            max_bytes=args.max_bytes,
            max_age_s=args.max_age,
        ),
    )
    port = args.metrics_port if args.metrics_port is not None else settings.metrics_port
    if port:
        metrics.serve(
            port,
            lambda: {
                "ok": True,
                "entries_archived": sink.entries_archived,
                "segments": sink.segments_written,
            },
        )
    log.info("archive sink: %s -> %s", settings.topics.sealed, archive.url)
    sink.run(common.stop_on_signals())
    log.info("archive sink stopped after %d entries", sink.entries_archived)
    return 0
