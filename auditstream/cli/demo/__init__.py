"""`auditstream demo`: run the whole pipeline on local services (`pipeline` says how)."""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
from collections.abc import Iterator
from typing import Any

from auditstream.cli import common


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run the pipeline end to end on local services and verify the result",
        description=(
            "Start Kafka (unless AUDITSTREAM_KAFKA_BOOTSTRAP is set), the processor and both "
            "sinks; produce the seed examples and a synthetic workload; print named queries "
            "and a verification report; stop what was started. Data stays in "
            "AUDITSTREAM_CLICKHOUSE_DSN and AUDITSTREAM_ARCHIVE_URL (default: under the "
            "state folder) for `auditstream verify` and `auditstream query`."
        ),
    )
    common.add_settings_args(parser)
    parser.add_argument("--events", type=int, default=5000, help="synthetic events to produce")
    parser.add_argument("--tenants", type=int, default=3, help="synthetic tenants")
    parser.add_argument(
        "--keep", action="store_true", help="keep running after the report and serve queries"
    )
    parser.add_argument(
        "--json", action="store_true", help="print a JSON summary on stdout (the rest on stderr)"
    )
    parser.add_argument(
        "--timeout", type=float, default=300.0, help="seconds to wait for each pipeline stage"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from auditstream.cli.demo.pipeline import Demo, DemoOptions  # noqa: PLC0415

    if args.events < 0 or args.tenants < 1:
        print("auditstream demo: --events must be >= 0 and --tenants >= 1", file=sys.stderr)
        return 2
    options = DemoOptions(
        events=args.events, tenants=args.tenants, keep=args.keep, timeout_s=args.timeout
    )
    out = sys.stderr if args.json else sys.stdout
    with interrupt_on_sigterm():
        summary = Demo(common.settings_from(args), options, out).run()
    if args.json:
        print(json.dumps(summary.to_json()))
    else:
        print(
            f"\nproduced {summary.produced}, sealed {summary.sealed}, dead-lettered "
            f"{summary.dead_lettered}, in ClickHouse {summary.in_clickhouse}, archived "
            f"{summary.archived}, verify_ok {str(summary.verify_ok).lower()} "
            f"({summary.seconds} s)\n"
            f"evidence pack (SOC 2): {summary.evidence_pack}\n"
            f"the data stays in {summary.clickhouse_dsn} and {summary.archive_url}; try\n"
            f"  auditstream verify --clickhouse {summary.clickhouse_dsn} "
            f"--archive {summary.archive_url} --pubkey {common.settings_from(args).state_dir}"
            "/keys/checkpoint.pub\n"
            "  auditstream query guardrail_denials"
        )
    return 0 if summary.verify_ok else 1


@contextlib.contextmanager
def interrupt_on_sigterm() -> Iterator[None]:
    """Turn SIGTERM into KeyboardInterrupt, so both unwind the same clean-up path."""

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
