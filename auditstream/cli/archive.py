"""`auditstream archive init`, `retention status|apply` and `replay`."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import urllib.parse
from pathlib import Path
from typing import Any

from auditstream.archive import lifecycle
from auditstream.archive.replay import replay
from auditstream.archive.store import FileArchive, S3Archive, open_archive
from auditstream.cli import common
from auditstream.clickhouse import migrations
from auditstream.clickhouse.client import connect
from auditstream.errors import ConfigError
from auditstream.security import s3_policies
from auditstream.settings.config import Settings
from auditstream.settings.resources import schemas_dir

SKELETON_DAYS = migrations.DEFAULT_SKELETON_DAYS


def _archive_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--archive", metavar="URL", help="s3://bucket/prefix or file:///path")
    parser.add_argument(
        "--skeleton-days",
        type=int,
        default=SKELETON_DAYS,
        help="days skeletons and manifests outlive content",
    )


def open_from(
    args: argparse.Namespace, settings: Settings, *, must_exist: bool = True
) -> FileArchive | S3Archive:
    url = args.archive or settings.effective_archive_url
    return open_archive(url, settings.s3, must_exist=must_exist)


def register(subparsers: Any) -> None:
    archive = subparsers.add_parser("archive", help="set up the archive bucket or folder")
    actions = archive.add_subparsers(dest="action", metavar="ACTION", required=True)
    init = actions.add_parser(
        "init", help="create or check the bucket (Object Lock) and its lifecycle rules"
    )
    common.add_settings_args(init)
    _archive_args(init)
    init.add_argument("--policy", type=Path, help="retention policy (TOML)")
    init.set_defaults(func=run_init)

    policy = actions.add_parser(
        "policy",
        help="print the IAM policy of the archive writer or reader (least privilege)",
        description=s3_policies.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    common.add_settings_args(policy)
    _archive_args(policy)
    policy.add_argument("--role", choices=("writer", "reader"), default="writer")
    policy.set_defaults(func=run_policy)

    retention = subparsers.add_parser("retention", help="retention classes, rules and data")
    actions = retention.add_subparsers(dest="action", metavar="ACTION", required=True)
    show = actions.add_parser("status", help="classes, lifecycle rules, oldest retained data")
    common.add_settings_args(show)
    _archive_args(show)
    show.add_argument("--policy", type=Path, help="retention policy (TOML)")
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=run_status)
    apply = actions.add_parser("apply", help="delete what retention allows from a file:// archive")
    common.add_settings_args(apply)
    _archive_args(apply)
    apply.add_argument("--dry-run", action="store_true", help="only list what would go")
    apply.set_defaults(func=run_apply)

    rebuild = subparsers.add_parser("replay", help="rebuild ClickHouse from the archive")
    common.add_settings_args(rebuild)
    rebuild.add_argument("--from", dest="source", metavar="URL", required=True, help="archive URL")
    rebuild.add_argument("--to-clickhouse", metavar="DSN", required=True)
    rebuild.add_argument("--database", default="auditstream")
    rebuild.add_argument("--tenant")
    rebuild.add_argument("--from-time", type=dt.datetime.fromisoformat)
    rebuild.add_argument("--to-time", type=dt.datetime.fromisoformat)
    rebuild.set_defaults(func=run_replay)


def run_init(args: argparse.Namespace) -> int:
    settings = common.settings_from(args)
    archive = open_from(args, settings, must_exist=False)
    if isinstance(archive, FileArchive):
        archive.root.mkdir(parents=True, exist_ok=True)
        print(f"file archive ready at {archive.root} (retention: `auditstream retention apply`)")
        return 0
    created = lifecycle.init_s3(archive, common.policy(settings), args.skeleton_days)
    verb = "created" if created else "checked"
    print(
        f"{verb} bucket {archive.bucket}: versioning and Object Lock on; lifecycle rules installed"
    )
    return 0


def run_policy(args: argparse.Namespace) -> int:
    url = args.archive or common.settings_from(args).effective_archive_url
    where = urllib.parse.urlsplit(url)
    if where.scheme != "s3" or not where.netloc:
        raise ConfigError(f"an IAM policy is for an s3:// archive, not {url!r}")
    make = (
        s3_policies.archive_writer_policy
        if args.role == "writer"
        else s3_policies.archive_reader_policy
    )
    print(json.dumps(make(where.netloc, where.path), indent=2))
    return 0


def run_status(args: argparse.Namespace) -> int:
    settings = common.settings_from(args)
    found = lifecycle.status(open_from(args, settings), common.policy(settings))
    if args.json:
        print(json.dumps(found.__dict__, indent=2, default=str))
        return 0
    for item in found.classes:
        print(f"class {item['class']:10} {item['days']:6d} days  {item['description']}")
    for rule in found.rules:
        prefix, expiration = rule.get("Filter", {}).get("Prefix", ""), rule.get("Expiration", {})
        if "Days" in expiration:
            what = f"expires after {expiration['Days']} days"
        else:
            what = "removes delete markers with no version left"
        print(f"rule  {rule['ID']:24} {prefix} {what}")
    print(f"segments: {found.segments}, under legal hold: {found.legal_holds}")
    print(f"oldest retained: {found.oldest_segment_day}")
    return 0


def run_apply(args: argparse.Namespace) -> int:
    settings = common.settings_from(args)
    archive = open_from(args, settings)
    if not isinstance(archive, FileArchive):
        print("S3 archives are expired by their lifecycle rules; nothing to apply")
        return 0
    removed = lifecycle.apply_file_retention(
        archive, dt.datetime.now(dt.UTC), args.skeleton_days, args.dry_run
    )
    print(("would remove" if args.dry_run else "removed") + f" {len(removed)} objects")
    return 0


def run_replay(args: argparse.Namespace) -> int:
    settings = common.settings_from(args)
    archive = open_archive(args.source, settings.s3, must_exist=True)
    next(iter(archive.list("v1/manifests/")), None)  # readable, before the target is touched
    client = connect(args.to_clickhouse, auth=settings.clickhouse)
    migrations.migrate(
        client,
        schemas_dir() / "clickhouse",
        migrations.Target(args.database, settings.clickhouse_cluster),
    )
    result = replay(
        archive, client, args.database, tenant=args.tenant, start=args.from_time, end=args.to_time
    )
    print(
        f"replayed {result.rows} rows ({result.skeleton_only} skeleton only), "
        f"{result.checkpoints} checkpoints; {result.skipped} already present"
    )
    return 0
