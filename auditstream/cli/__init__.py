"""The `auditstream` command. Each subcommand lives in its own module with a
`register(subparsers)` function; `main(argv)` is what the console script calls.

Exit codes: 0 success, 1 verification found tampering, 2 usage or IO error.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from auditstream import __version__
from auditstream.cli import (
    archive,
    demo,
    dev,
    keys,
    migrate,
    query,
    serve,
    sink,
    verify,
    worker,
)
from auditstream.errors import AuditStreamError
from auditstream.runtime import logs

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_ERROR = 2

COMMANDS = (demo, dev, worker, sink, serve, migrate, query, verify, archive, keys)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="auditstream",
        description="Tamper-evident audit pipeline: produce, seal, store, query and verify.",
    )
    parser.add_argument("--version", action="version", version=f"auditstream {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug output")
    parser.add_argument(
        "--log-format",
        choices=logs.FORMATS,
        default=os.environ.get(logs.FORMAT_ENV, "text"),
        help=f"log lines as text or one JSON object each (default: ${logs.FORMAT_ENV} or text)",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        command.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.log_format not in logs.FORMATS:
        parser.error(f"{logs.FORMAT_ENV} must be one of {', '.join(logs.FORMATS)}")
    if not getattr(args, "owns_logging", False):  # the Faust worker hands this to Faust
        logs.configure(args.log_format, "DEBUG" if args.verbose else "INFO")
    try:
        result: int = args.func(args)
    except AuditStreamError as exc:
        print(f"auditstream: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
    return result
