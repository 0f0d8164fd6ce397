"""`auditstream kafka acls`: the least-privilege ACLs of every pipeline role."""

from __future__ import annotations

import argparse
from typing import Any

from auditstream.cli import common
from auditstream.security import kafka_acls


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("kafka", help="Kafka administration for the pipeline")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    acls = actions.add_parser(
        "acls",
        help="print or apply the least-privilege ACLs of each role",
        description=kafka_acls.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    common.add_settings_args(acls)
    mode = acls.add_mutually_exclusive_group()
    mode.add_argument("--print", action="store_true", help="print the grants (the default)")
    mode.add_argument(
        "--apply", action="store_true", help="create them, as the connection's (admin) user"
    )
    acls.add_argument(
        "--app-id",
        type=common.kafka_name,
        default=kafka_acls.Roles.worker_app_id,
        help="the worker's --app-id",
    )
    acls.add_argument(
        "--ingest-source",
        action="append",
        metavar="TOPIC",
        help="a topic the ingest adapters read (repeatable; default: otlp_spans)",
    )
    acls.add_argument(
        "--timeout", type=float, default=30.0, help="seconds to wait for Kafka (default: 30)"
    )
    acls.set_defaults(func=_acls)


def _acls(args: argparse.Namespace) -> int:
    settings = common.settings_from(args)
    roles = kafka_acls.Roles(
        worker_app_id=args.app_id,
        ingest_sources=tuple(args.ingest_source or kafka_acls.Roles.ingest_sources),
    )
    grants = kafka_acls.pipeline_grants(settings.topics, roles)
    if not args.apply:
        print(kafka_acls.render(grants))
        return 0
    count = kafka_acls.apply(settings.kafka, grants, timeout=args.timeout)
    print(f"Kafka at {settings.kafka.bootstrap}: {count} ACLs in place")
    return 0
