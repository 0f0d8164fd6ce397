"""The `auditstream` command. Each subcommand lives in its own module with a
`register(subparsers)` function; `main(argv)` is what the console script calls.

Exit codes: 0 success, 1 verification found tampering (or a proof is invalid), 2 usage,
input or IO error, 130 interrupted. A failure is one line on stderr naming the command,
the resource and the cause (`cli.failures`); `--debug` or AUDITSTREAM_DEBUG=1 adds the
traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Sequence

from auditstream import __version__
from auditstream.cli import (
    archive,
    console,
    deadletter,
    demo,
    dev,
    erase,
    ingest,
    kafka,
    keys,
    migrate,
    query,
    report,
    serve,
    sink,
    tlog,
    verify,
    worker,
)
from auditstream.cli.failures import describe
from auditstream.runtime import logs

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_ERROR = 2
EXIT_INTERRUPTED = 130
DEBUG_ENV = "AUDITSTREAM_DEBUG"

COMMANDS = (
    demo,
    dev,
    worker,
    sink,
    serve,
    console,
    ingest,
    kafka,
    migrate,
    query,
    verify,
    erase,
    report,
    archive,
    keys,
    deadletter,
    tlog,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="auditstream",
        description="Tamper-evident audit pipeline: produce, seal, store, query and verify.",
    )
    parser.add_argument("--version", action="version", version=f"auditstream {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="log debug output, libraries' included"
    )
    parser.add_argument(
        "--debug",
        action="store_true",
        default=os.environ.get(DEBUG_ENV, "") not in ("", "0"),
        help=f"show the traceback of a failure (default: ${DEBUG_ENV})",
    )
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
    args, extra = parser.parse_known_args(argv)
    if extra:  # said by the subcommand's own parser, so the message names the command
        _parser_of(parser, args).error(f"unrecognized arguments: {' '.join(extra)}")
    if args.log_format not in logs.FORMATS:
        parser.error(f"{logs.FORMAT_ENV} must be one of {', '.join(logs.FORMATS)}")
    if not getattr(args, "owns_logging", False):  # the Faust worker hands this to Faust
        logs.configure(args.log_format, "DEBUG" if args.verbose else "INFO")
    try:
        result: int = args.func(args)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except Exception as exc:
        if args.debug:
            traceback.print_exc()
        message, known = describe(exc)
        if not known:
            message += " (a bug in auditstream; --debug shows where)"
        print(f"auditstream {command_name(args)}: error: {message}", file=sys.stderr)
        return EXIT_ERROR
    return result


def _parser_of(
    parser: argparse.ArgumentParser, args: argparse.Namespace
) -> argparse.ArgumentParser:
    """The (sub)parser of the command in `args`: `auditstream sink clickhouse`'s own."""
    for word in command_name(args).split():
        found = next(
            (a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None
        )
        if found is None or word not in found.choices:
            break
        parser = found.choices[word]
    return parser


def command_name(args: argparse.Namespace) -> str:
    """The subcommand as typed, e.g. `sink clickhouse` or `keys generate`."""
    words = [str(args.command)]
    for sub in ("kind", "action"):
        value = getattr(args, sub, None)
        if isinstance(value, str):
            words.append(value)
    return " ".join(words)
